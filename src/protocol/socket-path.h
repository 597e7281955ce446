/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Where lvssd's socket is: the one rule (issue 11 §3 "one home per rule"),
 * used by lvssd to listen, by liblvss to connect and by the tools to say
 * where they could not connect (architecture.md). Self-contained.
 */

/*
 * lvss_socket_path() - $LVSS_SOCKET when set and not empty, else
 * /run/lvss/lvssd.sock for root, else $XDG_RUNTIME_DIR/lvss/lvssd.sock.
 * @ret: owned, free().
 *
 * Return: 0; -ENXIO when none applies (not root, $XDG_RUNTIME_DIR unset or
 * not absolute); -ENOMEM; -EINVAL for a NULL @ret.
 */
int lvss_socket_path(char **ret);
