# The ratio table of bench/run_fs_bench.sh as a bar chart: one group per
# workload, one bar per target, each target's median as a multiple of the
# raw directory's (1.0, the dashed line, is raw).
# gnuplot -e "out='x.svg'; data='ratios.tsv'; ncol=5; title='...'" bench/plot_ratios.gp
# (ncol: the number of columns of the TSV, workload names included)
set terminal svg size 760,420 font "sans,11"
set output out
set title title
set ylabel "ratio to the raw directory (median)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key top right
set yrange [0:*]
set datafile separator "\t"
set xtics noenhanced
set key noenhanced
plot for [i=2:ncol] data using i:xtic(1) title columnheader(i), \
     1 with lines dashtype 2 linecolor "black" title "raw = 1"
