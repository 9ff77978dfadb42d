package chart

// The colours of the charts. Each fill has a contrast of at least 3:1
// (WCAG 2.1 AA for graphics, 1.4.11) and the text at least 4.5:1 (1.4.3)
// against the console's panel (#ffffff) and page (#f6f7f9) backgrounds;
// palette_test.go checks it. They are the stylesheet's own colours
// (site.css: --accent, --ok, --bad, --warn, --muted), so a chart's outcome
// reads like the badges next to it. Colour is never the only carrier: the
// tooltips, the legend and the table name every series.
const (
	Blue  = "#2f5bd3" // --accent
	Green = "#1c6b3f" // --ok
	Red   = "#a12a2a" // --bad
	Amber = "#8a5a00" // --warn
	Slate = "#5d6678" // --muted
	// Purple tells running runs from queued (slate) and succeeded (green).
	Purple = "#6b3fa0"
	// TextColor writes the axes' and the bars' labels (--muted).
	TextColor = "#5d6678"
	// GridColor draws the grid lines (--line); they are decoration.
	GridColor = "#e3e6ec"
)

// Backgrounds are the colours charts are drawn on (site.css: --panel, --bg).
var Backgrounds = []string{"#ffffff", "#f6f7f9"}

// RunOutcomes are the series of a chart of runs by status, in the
// workflow service's order (RunCounts: queued, running, succeeded,
// failed).
var RunOutcomes = []Series{
	{Name: "Queued", Key: "queued", Color: Slate},
	{Name: "Running", Key: "running", Color: Purple},
	{Name: "Succeeded", Key: "succeeded", Color: Green},
	{Name: "Failed", Key: "failed", Color: Red},
}
