# lvss bench: the freeze window on btrfs beside raw libbtrfsutil snapshots (bench/README.md).
#
#   gnuplot -e "csv='bench/results/btrfs.csv'; out='bench/results/btrfs.png'" bench/btrfs.gp
#
# csv is what lvss-bench --btrfs writes (ms): n, raw median,min,max, lvssd median,min,max,
# writer median,min,max, pairs, paired difference median, its 95 % interval (lo, hi).
# Top: medians, bars the spread over the repetitions. Bottom: the paired difference
# lvssd - raw, bars its 95 % interval, beside the goal's 1 ms.

if (!exists("csv")) csv = 'bench/results/btrfs.csv'
if (!exists("out")) out = 'bench/results/btrfs.png'

set terminal pngcairo size 900,900 font ",11" noenhanced
set output out
set datafile separator ','
set multiplot layout 2,1
set logscale xy 10
set format y '%g'
set xlabel 'N (btrfs subvolumes in the set / snapshots made)'
set ylabel 'time (ms), median and min-max'
set grid xtics ytics mxtics mytics lc rgb '#dddddd'
set key top left box opaque
set xrange [0.7:150]
set title 'the freeze window on btrfs: lvss beside raw libbtrfsutil snapshots'
plot csv skip 1 using 1:2:3:4 with yerrorlines lw 2 pt 5 lc rgb '#2ca02c' title 'raw: N btrfs_util_create_snapshot()', \
     ''  skip 1 using 1:5:6:7 with yerrorlines lw 2 pt 7 lc rgb '#1f77b4' title 'lvss: Freeze answered -> Thaw (as lvssd sees it)', \
     ''  skip 1 using 1:8:9:10 with yerrorlines lw 2 dt 2 pt 6 lc rgb '#aec7e8' title "lvss: the writer's whole window"

unset logscale y
set logscale x 10
set ylabel 'lvssd - raw (ms), paired median and 95 % interval'
set title 'the goal: lvssd within 1 ms of raw (decided on the interval)'
set key top left box opaque
plot csv skip 1 using 1:12:13:14 with yerrorbars lw 2 pt 7 lc rgb '#1f77b4' title 'lvssd - raw, paired', \
     1 with lines dt 2 lw 2 lc rgb '#d62728' title 'goal: 1 ms'
unset multiplot
