# The write() latency distribution of bench/run_live_calls.sh, one line per
# target: x is the percentile on a "nines" scale (90, 99, 99.9, ...), y the
# latency in ms on a log scale; the dashed line is one frame period (20 ms).
# gnuplot -e "out='x.svg'; dir='bench/out'; n='1000'; files='raw recvault'" bench/plot_live_calls.gp
set terminal svg size 720,420 font "sans,11"
set output out
set title sprintf("write() latency, %s live calls (one 320-byte frame every 20 ms each)", n)
set xlabel "percentile"
set ylabel "latency (ms)"
set logscale y
set grid
set key top left
nines(p) = p >= 100 ? 6 : -log10(1 - p / 100)
set xtics ("50" nines(50), "90" nines(90), "99" nines(99), "99.9" nines(99.9), "99.99" nines(99.99), "max" 6)
set xrange [0:6.2]
set arrow from 0,20 to 6.2,20 nohead dashtype 2

plot for [t in files] sprintf("%s/live-%s-%s.cdf", dir, t, n) using (nines($1)):($2) with linespoints title t
