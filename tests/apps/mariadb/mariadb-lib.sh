# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Sourced by the tests that run a real MariaDB server and its load client
# (test-mariadb-writer.sh, ../hooks/test-hooks-writer.sh): the server in a
# datadir of the test's own, on its own socket, --skip-networking, and the
# acknowledged-commit log of lvss-mariadb-load. The sourcing script defines
# T (its temporary directory) and LOAD, and sources ../../lib/lvss-test-lib.sh
# (PIDS, die, say and wait_for).

# ---- the server ---------------------------------------------------------------------------------------------

DATADIR=
BINLOG_DIR=
SOCK=$T/mysqld.sock

# init_server DATADIR BINLOG_DIR: a fresh datadir (mariadb-install-db).
init_server() {
        DATADIR=$1
        BINLOG_DIR=$2
        mkdir -p "$BINLOG_DIR" "$T/tmp"
        # The test's own temporary directory, not the shared /tmp: two servers being installed at once
        # (other tests, other engineers) must not see each other's temporary tables.
        mariadb-install-db --no-defaults --user=root --datadir="$DATADIR" --auth-root-authentication-method=socket \
                --tmpdir="$T/tmp" --skip-test-db >"$T/install-db.log" 2>&1 || die "mariadb-install-db failed"
}

server_up() { mariadb-admin --no-defaults -S "$SOCK" -u root ping >/dev/null 2>&1; }

start_server() {
        rm -f "$SOCK"
        mkdir -p "$T/tmp"
        mariadbd --no-defaults --user=root --datadir="$DATADIR" --socket="$SOCK" --skip-networking --tmpdir="$T/tmp" \
                --pid-file="$T/mysqld.pid" --log-bin="$BINLOG_DIR/binlog" --server-id=1 \
                --innodb-buffer-pool-size=32M --innodb-log-file-size=48M --log-error="$T/server.err" \
                >>"$T/server.log" 2>&1 &
        SERVER_PID=$!
        wait_for 60 "the server's socket" test -S "$SOCK"
        wait_for 60 "the server answering" server_up
}

# stop_server: a clean shutdown; waits until the process is gone.
stop_server() {
        [ -n "$SERVER_PID" ] || return 0
        mariadb-admin --no-defaults -S "$SOCK" -u root shutdown >/dev/null 2>&1 || true
        wait_for 60 "the server stopping" server_gone
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=
}
server_gone() { ! kill -0 "$SERVER_PID" 2>/dev/null; }
stop_server_hard() {
        if [ -n "$SERVER_PID" ]; then
                kill -KILL "$SERVER_PID" 2>/dev/null || true
                wait "$SERVER_PID" 2>/dev/null || true
                SERVER_PID=
        fi
}

sql() { mariadb --no-defaults -S "$SOCK" -u root -N -B -e "$1"; }

# The server is in no backup stage and not blocked: a new session commits, and can run BACKUP STAGE START itself.
check_server_free() {
        local why=$1 n
        n=$(sql "SET SESSION lock_wait_timeout = 5, max_statement_time = 10;
                 CREATE TABLE IF NOT EXISTS lvss_load.probe (id INT PRIMARY KEY AUTO_INCREMENT) ENGINE=InnoDB;
                 INSERT INTO lvss_load.probe VALUES (NULL); SELECT COUNT(*) FROM lvss_load.probe") ||
                die "$why: a new session cannot commit"
        [ "$n" -ge 1 ] || die "$why: the probe row is not there"
        sql "SET SESSION lock_wait_timeout = 5, max_statement_time = 10; BACKUP STAGE START; BACKUP STAGE END" ||
                die "$why: BACKUP STAGE START from a new session fails: a stage is still held"
}

# ---- the load -----------------------------------------------------------------------------------------------

LOAD_PID=
ACK=

start_load() {
        ACK=$1
        : >"$ACK"
        "$LOAD" --setup "$SOCK" "$ACK" || die "lvss-mariadb-load --setup"
        "$LOAD" "$SOCK" "$ACK" 2>>"$T/load.log" &
        LOAD_PID=$!
        PIDS+=("$LOAD_PID")
        wait_for 60 "the load acknowledging 300 transactions" ack_at_least 300
}
ack_lines() { wc -l <"$ACK"; }
ack_at_least() { [ "$(ack_lines)" -ge "$1" ]; }

# stop_load: SIGTERM; it ends after the current transaction.
stop_load() {
        kill -TERM "$LOAD_PID"
        local rc=0
        wait "$LOAD_PID" || rc=$?
        [ "$rc" -eq 0 ] || die "lvss-mariadb-load exited with $rc: $(tail -n 1 "$T/load.log")"
        LOAD_PID=
}

# load_goes_on N WHY: the load acknowledges N more transactions within 20 s (it is not blocked).
load_goes_on() {
        local target=$(($(ack_lines) + $1))
        wait_for 20 "$2: the load made no progress (commits blocked)" ack_at_least "$target"
}

