// Command plot-lateness draws a loadgen run's lateness over the run as a
// PNG: one dot per text (x: its due time into the run, y: how late it was
// sent), with the p50 and p99 lines. Standard library and x/image only.
//
//	go run ./cmd/loadgen -sessions 10000 -window 10s -csv /tmp/lateness.csv
//	go run ./scripts/plot-lateness -in /tmp/lateness.csv -out docs/lateness.png -title "..."
package main

import (
	"encoding/csv"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"slices"
	"strconv"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

type point struct{ x, y float64 } // seconds into the run, lateness in ms

func main() {
	in := flag.String("in", "", "CSV from loadgen -csv")
	out := flag.String("out", "lateness.png", "PNG to write")
	title := flag.String("title", "Follow-up lateness", "title above the plot")
	flag.Parse()
	if err := plot(*in, *out, *title); err != nil {
		fmt.Fprintln(os.Stderr, "plot-lateness:", err)
		os.Exit(1)
	}
}

func plot(in, out, title string) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	records, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return err
	}
	var pts []point
	for _, r := range records[1:] {
		x, err1 := strconv.ParseFloat(r[0], 64)
		y, err2 := strconv.ParseFloat(r[1], 64)
		if err1 == nil && err2 == nil {
			pts = append(pts, point{x, y})
		}
	}
	if len(pts) == 0 {
		return fmt.Errorf("%s has no rows", in)
	}
	ys := make([]float64, len(pts))
	maxX, maxY := 0.0, 0.0
	for i, p := range pts {
		ys[i] = p.y
		maxX, maxY = math.Max(maxX, p.x), math.Max(maxY, p.y)
	}
	slices.Sort(ys)
	p50, p99 := ys[len(ys)/2], ys[int(0.99*float64(len(ys)-1))]
	maxX, maxY = niceCeil(maxX), niceCeil(maxY*1.05)

	const w, h, left, right, top, bottom = 900, 500, 70, 20, 40, 50
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	grey, black := color.RGBA{200, 200, 200, 255}, color.Black
	px := func(x float64) int { return left + int(x/maxX*float64(w-left-right)) }
	py := func(y float64) int { return h - bottom - int(y/maxY*float64(h-top-bottom)) }
	for i := 0; i <= 5; i++ {
		y := maxY * float64(i) / 5
		hline(img, left, w-right, py(y), grey)
		label(img, 4, py(y)+4, fmt.Sprintf("%.0f ms", y), black)
		x := maxX * float64(i) / 5
		label(img, px(x)-10, h-bottom+18, fmt.Sprintf("%.1f s", x), black)
	}
	hline(img, left, w-right, h-bottom, black)
	for y := top; y <= h-bottom; y++ {
		img.Set(left, y, black)
	}
	blue := color.RGBA{40, 90, 200, 255}
	for _, p := range pts {
		x, y := px(p.x), py(p.y)
		img.Set(x, y, blue)
		img.Set(x+1, y, blue)
	}
	orange, red := color.RGBA{230, 140, 0, 255}, color.RGBA{200, 30, 30, 255}
	hline(img, left, w-right, py(p50), orange)
	hline(img, left, w-right, py(p99), red)
	label(img, w-right-160, py(p50)-4, fmt.Sprintf("p50 %.0f ms", p50), orange)
	label(img, w-right-160, py(p99)-4, fmt.Sprintf("p99 %.0f ms", p99), red)
	label(img, left, 20, fmt.Sprintf("%s (%d texts)", title, len(pts)), black)
	label(img, w/2-90, h-8, "due time, seconds into the run", black)

	o, err := os.Create(out)
	if err != nil {
		return err
	}
	defer o.Close()
	return png.Encode(o, img)
}

func hline(img *image.RGBA, x0, x1, y int, c color.Color) {
	for x := x0; x <= x1; x++ {
		img.Set(x, y, c)
	}
}

func label(img *image.RGBA, x, y int, s string, c color.Color) {
	d := &font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

// niceCeil rounds up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}
