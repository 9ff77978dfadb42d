package notify

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"
)

//go:embed templates
var templateFiles embed.FS

// Renderer renders the templates' subjects, plain text and HTML bodies
// from the embedded files; it is built once, at start, so that a broken
// template stops the process instead of an email.
type Renderer struct {
	text map[string]*texttemplate.Template
	html map[string]*htmltemplate.Template
}

// Rendered is one email's subject and bodies.
type Rendered struct {
	Subject, Text, HTML string
}

// NewRenderer parses every template of Templates.
func NewRenderer() (*Renderer, error) {
	r := &Renderer{text: map[string]*texttemplate.Template{}, html: map[string]*htmltemplate.Template{}}
	layout, err := htmltemplate.New("layout.html").Option("missingkey=error").ParseFS(templateFiles, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("notify: parse the HTML layout: %w", err)
	}
	for _, t := range Templates {
		txt, err := texttemplate.New(t.Name+".txt").Option("missingkey=error").
			ParseFS(templateFiles, "templates/"+t.Name+".txt", "templates/footer.txt")
		if err != nil {
			return nil, fmt.Errorf("notify: parse the %s text template: %w", t.Name, err)
		}
		if txt.Lookup("subject") == nil {
			return nil, fmt.Errorf("notify: the %s text template defines no subject", t.Name)
		}
		html, err := htmltemplate.Must(layout.Clone()).ParseFS(templateFiles, "templates/"+t.Name+".html")
		if err != nil {
			return nil, fmt.Errorf("notify: parse the %s HTML template: %w", t.Name, err)
		}
		r.text[t.Name], r.html[t.Name] = txt, html
	}
	return r, nil
}

// Render renders template t with data (its stored fields).
func (r *Renderer) Render(t Template, data map[string]string) (Rendered, error) {
	txt, html := r.text[t.Name], r.html[t.Name]
	if txt == nil || html == nil {
		return Rendered{}, fmt.Errorf("notify: no template %q", t.Name)
	}
	view := viewData(t, data)
	var subject, text, body bytes.Buffer
	if err := txt.ExecuteTemplate(&subject, "subject", view); err != nil {
		return Rendered{}, fmt.Errorf("notify: render the %s subject: %w", t.Name, err)
	}
	if err := txt.Execute(&text, view); err != nil {
		return Rendered{}, fmt.Errorf("notify: render the %s text: %w", t.Name, err)
	}
	if err := html.ExecuteTemplate(&body, "layout.html", view); err != nil {
		return Rendered{}, fmt.Errorf("notify: render the %s HTML: %w", t.Name, err)
	}
	return Rendered{
		Subject: strings.Join(strings.Fields(subject.String()), " "),
		Text:    strings.TrimSpace(text.String()) + "\n",
		HTML:    body.String(),
	}, nil
}

// viewData is what the template files see: every declared field ("" when
// it was not sent, so a template tests optional fields with `with`),
// times in UTC words, and for each X_cents field an X formatted as money.
func viewData(t Template, data map[string]string) map[string]string {
	view := map[string]string{}
	currency := strings.ToUpper(data["currency"])
	for _, f := range t.Fields {
		v := data[f.Name]
		switch f.Kind {
		case KindTime:
			if at, err := time.Parse(time.RFC3339, v); err == nil {
				v = at.UTC().Format("2006-01-02 15:04 UTC")
			}
		case KindCents:
			view[strings.TrimSuffix(f.Name, "_cents")] = money(v, currency)
		case KindCurrency:
			v = strings.ToUpper(v)
		}
		view[f.Name] = v
	}
	return view
}

// money formats cents as "12.50 USD" ("" when cents is empty).
func money(cents, currency string) string {
	n, err := strconv.ParseInt(cents, 10, 64)
	if err != nil {
		return ""
	}
	sign, abs := "", uint64(n)
	if n < 0 {
		sign, abs = "-", uint64(-(n+1))+1 // math.MinInt64 too
	}
	return strings.TrimSpace(fmt.Sprintf("%s%d.%02d %s", sign, abs/100, abs%100, currency))
}
