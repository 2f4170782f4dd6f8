package extract

import (
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRenderDPIKeepsPagesUnderThePixelLimit(t *testing.T) {
	t.Parallel()
	a4 := [2]float64{595.28, 841.89}
	tests := []struct {
		name      string
		size      [2]float64
		maxPixels int64
		want      float64
	}{
		{"a4 at full resolution", a4, 40_000_000, 300},
		{"a4 under a small limit", a4, 4_000_000, 201.37},
		{"a poster", [2]float64{72 * 100, 72 * 100}, 40_000_000, 62.6},
		{"no size", [2]float64{}, 40_000_000, 300},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dpi := renderDPI(tc.size, tc.maxPixels)
			require.InDelta(t, tc.want, dpi, 0.01)
			if tc.size[0] > 0 {
				px := (tc.size[0]/72*dpi + 1) * (tc.size[1]/72*dpi + 1) // pdftoppm rounds up
				require.LessOrEqual(t, px, float64(tc.maxPixels))
			}
		})
	}
}

func TestParsePageSizes(t *testing.T) {
	t.Parallel()
	out := "Pages:           3\nPage    1 size:  595.28 x 841.89 pts (A4)\nPage    1 rot:   0\nPage    3 size: 612 x 792 pts (letter)\nPage    4 size: 0 x 792 pts\n"
	require.Equal(t, map[int][2]float64{1: {595.28, 841.89}, 3: {612, 792}}, parsePageSizes([]byte(out)))
}

// blankPage: scanner specks (here 150 ink pixels on an A4 page at 300 dpi) leave a page blank;
// a page number's worth of ink does not; light-gray show-through is not ink.
func TestBlankPage(t *testing.T) {
	t.Parallel()
	write := func(ink int, gray uint8) string {
		img := image.NewGray(image.Rect(0, 0, 2480, 3508))
		for i := range img.Pix {
			img.Pix[i] = gray
		}
		for i := range ink {
			img.Pix[(i*7919)%len(img.Pix)] = 0
		}
		path := filepath.Join(t.TempDir(), "page.png")
		f, err := os.Create(path)
		require.NoError(t, err)
		require.NoError(t, png.Encode(f, img))
		require.NoError(t, f.Close())
		return path
	}
	for _, tc := range []struct {
		ink   int
		gray  uint8
		blank bool
	}{{0, 255, true}, {150, 255, true}, {150, 200, true}, {400, 255, false}, {0, 100, false}} {
		blank, err := blankPage(write(tc.ink, tc.gray))
		require.NoError(t, err)
		require.Equal(t, tc.blank, blank, "%d ink pixels on gray %d", tc.ink, tc.gray)
	}
	_, err := blankPage(filepath.Join(t.TempDir(), "missing.png"))
	require.Error(t, err)
}
