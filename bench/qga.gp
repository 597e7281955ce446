# The freeze window through qemu-guest-agent (bench/qga.sh, issue 10 part 5).
#
#   gnuplot -e "csv='bench/results/qga.csv'; out='bench/results/qga.png'" bench/qga.gp
#
# csv: way,n,reps,median_us,p95_us,min_us,max_us
# The median window (freeze request sent -> thaw answered) against N, the
# number of no-op hook scripts, for each way: no hook, /bin/true as the
# hook (N = 1), the stock dispatcher, lvss; log-log; the p95 as the top of an error bar.

if (!exists("csv")) csv = 'bench/results/qga.csv'
if (!exists("out")) out = 'bench/results/qga.png'

set terminal pngcairo size 900,600 font ",11"
set output out
set datafile separator ','
set title 'freeze window through qemu-ga: guest-fsfreeze-freeze-list sent -> guest-fsfreeze-thaw answered'
set logscale x 10
set logscale y 10
set format y '%g'
set xlabel 'N (no-op hook scripts)'
set ylabel 'window (ms), median; bar to p95'
set xrange [0.7:150]
set xtics (1, 10, 100)
set grid lc rgb '#dddddd'
set key top left box opaque

way(w) = sprintf("< grep '^%s,' '%s'", w, csv)

plot way('none')  using 2:($4/1000.0):($4/1000.0):($5/1000.0) with yerrorlines lw 2 lc rgb '#7f7f7f' title 'no hook', \
     way('true')  using 2:($4/1000.0):($4/1000.0):($5/1000.0) with yerrorbars pt 7 ps 1.2 lc rgb '#2ca02c' title '/bin/true as the hook (floor of any hook)', \
     way('stock') using 2:($4/1000.0):($4/1000.0):($5/1000.0) with yerrorlines lw 2 lc rgb '#d62728' title 'stock dispatcher', \
     way('lvss')  using 2:($4/1000.0):($4/1000.0):($5/1000.0) with yerrorlines lw 2 lc rgb '#1f77b4' title 'lvss (lvss-freeze-hook + lvss-writer-hooks)'
