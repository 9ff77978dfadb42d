// Package browser runs headless Chromium for the sites' browser tests
// (e2e/portal; chromedp): it finds the browser or fails saying how to
// install it, and gives a test a tab with deadlines on every step and
// screenshots at the sizes people use.
package browser

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Path finds Chromium, or fails the test saying how to install it: the
// browser tests are part of `make test`, never silently skipped.
func Path(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM_PATH"); p != "" {
		return p
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("Chromium is not installed: the browser tests need it. Install it with `apt-get install chromium` " +
		"(Debian/Ubuntu; `make deps`, run by `make test`, does this), or set CHROMIUM_PATH to a Chrome/Chromium binary.")
	return ""
}

// Options are the flags of a quiet headless Chromium at chrome with its
// own profile in dir and a desktop window: no sandbox (containers), no
// GPU, no background traffic.
func Options(chrome, dir string) []chromedp.ExecAllocatorOption {
	return append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(dir),
		chromedp.WindowSize(int(Desktop.Width), int(Desktop.Height)),
	)
}

// Tab is one headless browser (its own profile, so its own cookies) with
// one tab.
type Tab struct {
	T   testing.TB
	Ctx context.Context
	// Step bounds each Do, so a missing element fails instead of hanging.
	Step time.Duration
}

// Start starts Chromium for the rest of the test, with a desktop window.
func Start(t testing.TB) *Tab {
	t.Helper()
	chrome := Path(t)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), Options(chrome, t.TempDir())...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first run starts the browser; it must not carry a timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium at %s: %v (install it with `apt-get install chromium`)", chrome, err)
	}
	return &Tab{T: t, Ctx: ctx, Step: 30 * time.Second}
}

// Do runs steps within Step; on failure it fails the test with the page.
func (b *Tab) Do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, b.Step)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		loc, _ := chromedp.Run(b.Ctx, chromedp.Location())
		body, _ := chromedp.Run(b.Ctx, chromedp.OuterHTML(chromedp.CSS("body")))
		b.T.Fatalf("%s: %v\nat %s\npage: %s", what, err, loc, body)
	}
}

// get runs one action that returns a value, within Step.
func get[T any](b *Tab, what string, a chromedp.Action[T]) T {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, b.Step)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.T.Fatalf("%s: %v", what, err)
	}
	return v
}

// Text returns the text of the first element matching the CSS selector.
func (b *Tab) Text(sel string) string {
	b.T.Helper()
	return get(b, "text of "+sel, chromedp.Text(chromedp.CSS(sel)))
}

// Value returns the value of the first input matching the CSS selector.
func (b *Tab) Value(sel string) string {
	b.T.Helper()
	return get(b, "value of "+sel, chromedp.Value(chromedp.CSS(sel)))
}

// Location is the tab's URL.
func (b *Tab) Location() string {
	b.T.Helper()
	return get(b, "location", chromedp.Location())
}

// Sizes people use: a desktop window and a small phone.
var (
	Desktop = Size{Name: "desktop", Width: 1280, Height: 900}
	Phone   = Size{Name: "phone", Width: 360, Height: 740, Mobile: true}
)

// Size is a viewport.
type Size struct {
	Name          string
	Width, Height int64
	Mobile        bool
}

// Resize sets the viewport (and the mobile flag) for the next pages.
func (b *Tab) Resize(s Size) {
	b.T.Helper()
	opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
	if s.Mobile {
		opts = append(opts, chromedp.EmulateMobile)
	}
	b.Do("viewport "+s.Name, chromedp.EmulateViewport(s.Width, s.Height, opts...))
}

// Shot saves a full-page PNG of the current page as dir/name.png.
func (b *Tab) Shot(dir, name string) {
	b.T.Helper()
	// Chromium's captureScreenshot once hung for good (the console's test,
	// 2026-12-07): a capture gets one step and one more try; a second hang
	// fails the test at once rather than at the package's timeout.
	var png []byte
	for try := 0; ; try++ {
		ctx, cancel := context.WithTimeout(b.Ctx, b.Step)
		var err error
		png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
		cancel()
		if err == nil {
			break
		}
		if try == 1 {
			b.T.Fatalf("screenshot %s: %v", name, err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.T.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.T.Fatal(err)
	}
}

// ScrollWidth is the page's scrollable width in CSS pixels: at most the
// viewport's when nothing overflows sideways.
func (b *Tab) ScrollWidth() int64 {
	b.T.Helper()
	return get(b, "scroll width", chromedp.Evaluate[int64](`document.documentElement.scrollWidth`))
}

// Overflowing names the first elements that stick out of the viewport's
// right edge (outside the containers that scroll sideways on purpose,
// .table-wrap and pre), for the message of a page that is too wide.
func (b *Tab) Overflowing() string {
	b.T.Helper()
	return get(b, "overflowing elements", chromedp.Evaluate[string](`(() => {
		const w = document.documentElement.clientWidth, out = [];
		for (const el of document.querySelectorAll("body *")) {
			const r = el.getBoundingClientRect();
			if (r.right > w + 1 && !el.closest(".table-wrap, pre, nav")) {
				out.push(el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.className ? "." + el.className : "") + " to " + Math.round(r.right) + "px");
			}
		}
		return out.slice(0, 6).join(", ");
	})()`))
}
