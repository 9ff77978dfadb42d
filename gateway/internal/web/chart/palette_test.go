package chart

import (
	"math"
	"strconv"
	"testing"
)

// TestPaletteContrast checks the WCAG 2.1 AA contrast of every colour the
// charts draw with against every background they are drawn on: 3:1 for
// graphics (1.4.11), 4.5:1 for text (1.4.3).
func TestPaletteContrast(t *testing.T) {
	t.Parallel()
	fills := []string{Blue, Green, Red, Amber, Slate, Purple}
	for _, s := range RunOutcomes {
		fills = append(fills, s.Color)
	}
	for _, bg := range Backgrounds {
		for _, c := range fills {
			if r := contrast(t, c, bg); r < 3 {
				t.Errorf("fill %s on %s: %.2f:1, want ≥ 3:1", c, bg, r)
			}
		}
		if r := contrast(t, TextColor, bg); r < 4.5 {
			t.Errorf("text %s on %s: %.2f:1, want ≥ 4.5:1", TextColor, bg, r)
		}
	}
}

// contrast is the WCAG contrast ratio of two #rrggbb colours.
func contrast(t *testing.T, a, b string) float64 {
	la, lb := luminance(t, a), luminance(t, b)
	return (math.Max(la, lb) + 0.05) / (math.Min(la, lb) + 0.05)
}

func luminance(t *testing.T, hex string) float64 {
	t.Helper()
	if len(hex) != 7 || hex[0] != '#' {
		t.Fatalf("colour %q is not #rrggbb", hex)
	}
	var ch [3]float64
	for i := range ch {
		v, err := strconv.ParseUint(hex[1+2*i:3+2*i], 16, 8)
		if err != nil {
			t.Fatal(err)
		}
		c := float64(v) / 255
		if c <= 0.03928 {
			ch[i] = c / 12.92
		} else {
			ch[i] = math.Pow((c+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*ch[0] + 0.7152*ch[1] + 0.0722*ch[2]
}
