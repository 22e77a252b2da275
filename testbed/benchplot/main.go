// Command benchplot draws the ratios of bench/peer.sh's results (Gantry's
// wall time over the peer stack's, per scenario) as a PNG bar chart:
//
//	go run ./testbed/benchplot bench/out/peer/results.tsv docs/peer-ratios.png
package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: benchplot RESULTS.tsv OUT.png (RESULTS.tsv: bench/peer.sh's bench/out/peer/results.tsv)")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintf(os.Stderr, "benchplot: %v\n", err)
		os.Exit(1)
	}
}

// Ratio is one scenario's Gantry time over the peer stack's.
type Ratio struct {
	Scenario     string
	Gantry, Peer float64
}

// Value is Gantry / peer.
func (r Ratio) Value() float64 { return r.Gantry / r.Peer }

// Read parses results.tsv (scenario, side, seconds, breakdown; a header
// line first) into ratios, in the scenarios' order of first appearance.
func Read(r io.Reader) ([]Ratio, error) {
	cr := csv.NewReader(r)
	cr.Comma = '\t'
	cr.FieldsPerRecord = 4
	cr.LazyQuotes = true
	rows, err := cr.ReadAll()
	if err != nil {
		return nil, err
	}
	if len(rows) < 2 || rows[0][0] != "scenario" {
		return nil, errors.New("no results: want a header line (scenario, side, seconds, breakdown) and a line per scenario and side")
	}
	var out []Ratio
	index := map[string]int{}
	for _, row := range rows[1:] {
		sec, err := strconv.ParseFloat(row[2], 64)
		if err != nil || sec <= 0 {
			return nil, fmt.Errorf("scenario %s, %s: seconds %q is not a positive number", row[0], row[1], row[2])
		}
		i, ok := index[row[0]]
		if !ok {
			i = len(out)
			index[row[0]] = i
			out = append(out, Ratio{Scenario: row[0]})
		}
		switch row[1] {
		case "gantry":
			out[i].Gantry = sec
		case "peer":
			out[i].Peer = sec
		default:
			return nil, fmt.Errorf("scenario %s: unknown side %q (want gantry or peer)", row[0], row[1])
		}
	}
	for _, r := range out {
		if r.Gantry == 0 || r.Peer == 0 {
			return nil, fmt.Errorf("scenario %s lacks a side: both sides of a scenario come from one run", r.Scenario)
		}
	}
	return out, nil
}

func run(in, out string) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	ratios, err := Read(f)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	p := plot.New()
	p.Title.Text = "Gantry's wall time / the peer stack's (below 1: Gantry is faster)"
	p.Y.Label.Text = "ratio"
	p.Y.Min = 0
	values := make(plotter.Values, len(ratios))
	names := make([]string, len(ratios))
	for i, r := range ratios {
		values[i] = r.Value()
		names[i] = fmt.Sprintf("%s\n%.0f s / %.0f s", r.Scenario, r.Gantry, r.Peer)
		p.Y.Max = max(p.Y.Max, r.Value()*1.15, 1.3)
	}
	bars, err := plotter.NewBarChart(values, vg.Points(40))
	if err != nil {
		return err
	}
	labels, err := plotter.NewLabels(plotter.XYLabels{XYs: barTops(values), Labels: formatted(values)})
	if err != nil {
		return err
	}
	even := plotter.NewFunction(func(float64) float64 { return 1 })
	even.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
	p.Add(bars, even, labels)
	p.NominalX(names...)
	return p.Save(7*vg.Inch, 4*vg.Inch, out)
}

func barTops(v plotter.Values) plotter.XYs {
	xys := make(plotter.XYs, len(v))
	for i, y := range v {
		xys[i] = plotter.XY{X: float64(i) - 0.1, Y: y + 0.02}
	}
	return xys
}

func formatted(v plotter.Values) []string {
	s := make([]string, len(v))
	for i, y := range v {
		s[i] = fmt.Sprintf("%.2f", y)
	}
	return s
}
