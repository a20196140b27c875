# The ratio table of bench/run_fs_bench.sh as a bar chart: one group per
# workload, one bar per target, each target's median as a multiple of the
# raw directory's (1.0, the dashed line, is raw).
# gnuplot -e "out='x.svg'; data='ratios.tsv'; ncol=5; title='...'" bench/plot_ratios.gp
# (ncol: the number of columns of the TSV, workload names included)
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set datafile separator "\t"
set xtics noenhanced
set key noenhanced right center
set grid ytics
set yrange [0:*]
# A first pass finds the tallest bar, so that raw's line (1.0) is always in
# the picture.
set terminal svg
set output "/dev/null"
plot for [i=2:ncol] data using i:xtic(1) title columnheader(i)
top = GPVAL_Y_MAX > 1.0 ? GPVAL_Y_MAX * 1.05 : 1.1
set terminal svg size 760,420 font "sans,11"
set output out
set title title noenhanced
set ylabel "ratio to the raw directory (median)"
set yrange [0:top]
set arrow from graph 0, first 1 to graph 1, first 1 nohead dashtype 2
set label "raw = 1" at graph 0.01, first 1 offset 0,0.6
plot for [i=2:ncol] data using i:xtic(1) title columnheader(i)
