package report

import (
	"errors"
	"fmt"
	"image/color"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Point is one (x, y) sample; x is simulated seconds in launch charts.
type Point struct {
	X float64 `json:"t_s"`
	Y float64 `json:"n"`
}

// Series is a named line or set of marks.
type Series struct {
	Name   string
	Points []Point
	// Dashed draws a dashed line (ideal or reference curves).
	Dashed bool
	// Color; nil picks the next of the palette.
	Color color.Color
}

// Chart describes a chart: lines (launch curves, the ideal) and marks
// (events such as throttles, drawn as crosses at their points).
type Chart struct {
	Title, XLabel, YLabel string
	Lines                 []Series
	Marks                 []Series
	// Width and Height default to 10 × 5.5 inches (960 × 528 px as PNG,
	// which gonum renders at 96 dpi).
	Width, Height vg.Length
}

// palette: launched blue, ideal grey, then distinct colours for more runs.
var palette = []color.Color{
	color.RGBA{31, 119, 180, 255},  // blue
	color.RGBA{110, 110, 110, 255}, // grey
	color.RGBA{44, 160, 44, 255},   // green
	color.RGBA{255, 127, 14, 255},  // orange
	color.RGBA{148, 103, 189, 255}, // purple
}

var markColor = color.RGBA{214, 39, 40, 255} // red

// Save renders the chart to path; the extension picks the format (.png,
// .svg, .pdf).
func (c Chart) Save(path string) error {
	if len(c.Lines) == 0 && len(c.Marks) == 0 {
		return errors.New("report: chart has no series")
	}
	p := plot.New()
	p.Title.Text = c.Title
	p.Title.TextStyle.Font.Size = vg.Points(14)
	p.X.Label.Text, p.Y.Label.Text = c.XLabel, c.YLabel
	p.X.Min, p.Y.Min = 0, 0
	p.Add(plotter.NewGrid())
	p.Legend.Top, p.Legend.Left = false, false
	p.Legend.YPosition = draw.PosBottom
	p.Legend.XOffs = -vg.Points(8)
	p.Legend.YOffs = vg.Points(8)
	p.Legend.ThumbnailWidth = vg.Points(24)
	for i, s := range c.Lines {
		if len(s.Points) == 0 {
			continue
		}
		l, err := plotter.NewLine(xys(s.Points))
		if err != nil {
			return fmt.Errorf("report: series %q: %w", s.Name, err)
		}
		l.LineStyle.Width = vg.Points(2)
		l.LineStyle.Color = s.Color
		if l.LineStyle.Color == nil {
			l.LineStyle.Color = palette[i%len(palette)]
		}
		if s.Dashed {
			l.LineStyle.Dashes = []vg.Length{vg.Points(6), vg.Points(4)}
			l.LineStyle.Width = vg.Points(1.5)
		}
		p.Add(l)
		p.Legend.Add(s.Name, l)
	}
	for _, s := range c.Marks {
		// Marks without points still get their legend entry: "throttled
		// calls (0 of 200)" is part of the story.
		sc, err := plotter.NewScatter(xys(s.Points))
		if err != nil {
			return fmt.Errorf("report: marks %q: %w", s.Name, err)
		}
		sc.GlyphStyle.Shape = draw.CrossGlyph{}
		sc.GlyphStyle.Radius = vg.Points(4.5)
		sc.GlyphStyle.Color = s.Color
		if sc.GlyphStyle.Color == nil {
			sc.GlyphStyle.Color = markColor
		}
		if len(s.Points) > 0 {
			p.Add(sc)
		}
		p.Legend.Add(s.Name, sc)
	}
	w, h := c.Width, c.Height
	if w == 0 {
		w = 10 * vg.Inch
	}
	if h == 0 {
		h = 5.5 * vg.Inch
	}
	if err := p.Save(w, h, path); err != nil {
		return fmt.Errorf("report: save %s: %w", filepath.Base(path), err)
	}
	return nil
}

func xys(pts []Point) plotter.XYs {
	out := make(plotter.XYs, len(pts))
	for i, p := range pts {
		out[i].X, out[i].Y = p.X, p.Y
	}
	return out
}

// Steps turns sorted event times (simulated seconds) into a cumulative
// count curve: (t, number of events at or before t), one point per
// distinct time, starting at (0, 0).
func Steps(times []float64) []Point {
	pts := []Point{{0, 0}}
	for i, t := range times {
		if i+1 < len(times) && times[i+1] == t {
			continue
		}
		pts = append(pts, Point{t, float64(i + 1)})
	}
	return pts
}

// At returns the curve's value at x (the last point at or before x; 0
// before the first): where to draw a mark on a launch curve.
func At(curve []Point, x float64) float64 {
	y := 0.0
	for _, p := range curve {
		if p.X > x {
			break
		}
		y = p.Y
	}
	return y
}
