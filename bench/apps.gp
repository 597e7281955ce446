# What a backup costs the application's commits (bench/apps.sh).
#
#   gnuplot -e "csv='bench/results/apps.csv'; out='bench/results/apps.png'" bench/apps.gp
#
# csv: db,model,commits,p50_us,p99_us,max_us,added_p99_us,backups,backup_median_ms
# One group of bars per database and model (none: no backup; lvss; hooks):
# the 99th-percentile and the longest commit latency, in ms, log scale.

if (!exists("csv")) csv = 'bench/results/apps.csv'
if (!exists("out")) out = 'bench/results/apps.png'

set terminal pngcairo size 1100,600 font ",11"
set output out
set datafile separator ','
set datafile missing 'NaN'
set title 'commit latency during backups: lvss writers beside hook scripts (btrfs)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set logscale y 10
set format y '%g'
set ylabel 'commit latency (ms)'
set grid ytics lc rgb '#dddddd'
set key top left box opaque
set xtics rotate by -20

plot csv skip 1 using ($5/1000.0):xtic(stringcolumn(1).' '.stringcolumn(2)) lc rgb '#1f77b4' title 'p99', \
     ''  skip 1 using ($6/1000.0) lc rgb '#d62728' title 'max'
