# lvss bench: time against N on log-log axes (bench/README.md).
#
#   gnuplot -e "csv='bench/results/event-by-n.csv'; out='bench/results/bench.png'" bench/plot.gp
#
# csv is what lvss-bench writes: n, then per series median,min,max in ms:
#   2-4 lvss_event  5-7 floor_event  8-10 sdevent_event  11-13 hooks_event
#   14-16 lvss_gather_status  17-19 lvss_freeze_window  20-22 hooks_freeze_window  23-25 lvss_sequence
# Points are medians, bars the spread (min-max) over the repetitions.

if (!exists("csv")) csv = 'bench/results/event-by-n.csv'
if (!exists("out")) out = 'bench/results/bench.png'

set terminal pngcairo size 1600,700 font ",11"
set output out
set datafile separator ','
set datafile missing 'NaN'
set logscale xy 10
set format y '%g'
set xlabel 'N (writers / processes / hook scripts)'
set ylabel 'time (ms), median and min-max'
set grid xtics ytics mxtics mytics lc rgb '#dddddd'
set key top left box opaque
set xrange [0.7:1500]

set multiplot layout 1,2 title 'lvss bench: what coordination costs, side by side with the alternatives'

set title 'one event to N applications'
plot csv skip 1 using 1:2:3:4 with yerrorlines lw 2 pt 7 lc rgb '#1f77b4' title 'lvss (PrepareForBackup)', \
     ''  skip 1 using 1:5:6:7 with yerrorlines lw 2 pt 5 lc rgb '#2ca02c' title 'raw sd-bus floor (epoll)', \
     ''  skip 1 using 1:8:9:10 with yerrorlines lw 2 dt 2 pt 4 lc rgb '#98df8a' title 'sd-bus on one sd-event loop', \
     ''  skip 1 using 1:11:12:13 with yerrorlines lw 2 pt 9 lc rgb '#d62728' title 'sequential hook scripts', \
     ''  skip 1 using 1:14:15:16 with yerrorlines lw 2 dt 3 pt 6 lc rgb '#9467bd' title 'lvss GatherWriterStatus'

set title 'the freeze window and the whole sequence'
plot csv skip 1 using 1:17:18:19 with yerrorlines lw 2 pt 7 lc rgb '#1f77b4' title 'lvss freeze window (writers'' clocks)', \
     ''  skip 1 using 1:20:21:22 with yerrorlines lw 2 pt 9 lc rgb '#d62728' title 'hooks freeze window (freeze + thaw hooks)', \
     ''  skip 1 using 1:23:24:25 with yerrorlines lw 2 dt 2 pt 6 lc rgb '#17becf' title 'lvss whole sequence (metadata -> final gather)'

unset multiplot
