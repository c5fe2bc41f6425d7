package calibrate

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/actswap/actswap/onnxops"
)

// chromium finds a headless-capable Chromium: $ACTSWAP_CHROMIUM, else the usual names on PATH;
// the test skips, saying why, when there is none.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("ACTSWAP_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless_shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium (apt-get install chromium, or set ACTSWAP_CHROMIUM): the HTML report is not checked in a browser")
	return ""
}

// pageCheck runs in the page after it has rendered and records what a reader would see wrong:
// a plot without one of its curves, a curve with too few points or drawn outside its panel, a
// plot without axis titles, a PWLU plot without knots, or no verdict.
const pageCheck = `<script>
(function () {
  const problems = [];
  const plots = document.querySelectorAll('svg.site-plot');
  const headings = [...document.querySelectorAll('div.site > b')].map(b => b.parentElement.textContent);
  plots.forEach((svg, i) => {
    const panels = {};
    for (const which of ['main', 'err']) {
      const r = svg.querySelector('clipPath[id$="-' + which + '"] rect');
      if (!r) { problems.push('plot ' + i + ': no ' + which + ' panel'); continue; }
      panels[which] = {x: +r.getAttribute('x'), y: +r.getAttribute('y'), w: +r.getAttribute('width'), h: +r.getAttribute('height')};
    }
    for (const [cls, panel] of [['original', 'main'], ['fitted', 'main'], ['error', 'err']]) {
      const c = svg.querySelector('polyline.curve.' + cls);
      if (!c) { problems.push('plot ' + i + ': no ' + cls + ' curve'); continue; }
      const n = c.points.numberOfItems;
      if (n < 100) problems.push('plot ' + i + ': ' + cls + ' curve has ' + n + ' points');
      const box = c.getBBox();
      if (!(box.width > 0)) problems.push('plot ' + i + ': ' + cls + ' curve has no width');
      const p = panels[panel];
      if (!p) continue;
      let outside = 0;
      for (let k = 0; k < n; k++) {
        const pt = c.points.getItem(k);
        if (pt.x < p.x - 0.5 || pt.x > p.x + p.w + 0.5 || pt.y < p.y - 0.5 || pt.y > p.y + p.h + 0.5) outside++;
      }
      if (outside) problems.push('plot ' + i + ': ' + outside + ' points of the ' + cls + ' curve outside its panel');
    }
    const titles = [...svg.querySelectorAll('text.axis-title')].map(t => t.textContent);
    if (titles.length < 3) problems.push('plot ' + i + ': axis titles ' + JSON.stringify(titles));
    if ((headings[i] || '').includes('→ PWLU') && svg.querySelectorAll('circle.knot').length < 2)
      problems.push('plot ' + i + ': PWLU without knots');
  });
  const verdict = document.getElementById('verdict');
  if (!verdict || !/^Verdict: \S/.test(verdict.textContent)) problems.push('no verdict');
  if (verdict && document.querySelector('h1').nextElementSibling !== verdict) problems.push('the verdict is not the first line');
  document.body.setAttribute('data-check', JSON.stringify({plots: plots.length, problems: problems,
    verdict: verdict ? verdict.textContent : ''}));
})();
</script>`

type pageResult struct {
	Plots    int      `json:"plots"`
	Problems []string `json:"problems"`
	Verdict  string   `json:"verdict"`
}

// renderInChromium loads page (with pageCheck appended) in headless Chromium and returns what
// the check found and every console message (an SVG attribute that does not parse, a script
// error) the page produced.
func renderInChromium(t *testing.T, browser, page string) (pageResult, []string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "report.html")
	checked := strings.Replace(page, "</body>", pageCheck+"</body>", 1)
	if err := os.WriteFile(path, []byte(checked), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--enable-logging=stderr", "--v=0", "--dump-dom", "file://"+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	dom, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", browser, err, stderr.String())
	}
	var console []string
	for _, line := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(line, ":CONSOLE") {
			console = append(console, line)
		}
	}
	m := regexp.MustCompile(`data-check="([^"]*)"`).FindSubmatch(dom)
	if m == nil {
		t.Fatalf("the page check did not run; console: %v", console)
	}
	var res pageResult
	if err := json.Unmarshal([]byte(html.UnescapeString(string(m[1]))), &res); err != nil {
		t.Fatal(err)
	}
	return res, console
}

// TestReportInBrowser renders calibration reports in headless Chromium: a sequential PWLU fit of
// a GELU model (knots, sequential candidates, sensitivity) and --to auto per channel on a ReLU
// model (family candidates, exact fits whose error is 0), and checks there are no console errors
// and every plot has its curves inside their panels, its axis titles and, for PWLU, its knots.
func TestReportInBrowser(t *testing.T) {
	browser := chromium(t)
	for _, c := range []struct {
		model string
		opts  Options
	}{
		{"digits_mlp_gelu", Options{To: onnxops.FamilyPWLU, Sequential: true}},
		{"digits_cnn", Options{To: Auto, PerChannel: true}},
	} {
		t.Run(c.model, func(t *testing.T) {
			d := openDigits(t, c.model)
			opts := c.opts
			opts.HeldOut, opts.HeldOutFrom = d.test, "test_x.npy"
			res, err := Calibrate(d.m, d.calib, opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := MeasureSensitivity(d.m, res, d.test, 0); err != nil {
				t.Fatal(err)
			}
			var page bytes.Buffer
			if err := NewReport(c.model, res, nil, opts).WriteHTML(&page, c.model, res); err != nil {
				t.Fatal(err)
			}
			if out := os.Getenv("ACTSWAP_REPORT_DIR"); out != "" { // to look at the page yourself
				os.WriteFile(filepath.Join(out, c.model+".html"), page.Bytes(), 0o644)
			}
			got, console := renderInChromium(t, browser, page.String())
			t.Logf("%s", got.Verdict)
			for _, line := range console {
				t.Errorf("console: %s", line)
			}
			if got.Plots != len(res.Sites) {
				t.Errorf("%d plots for %d sites", got.Plots, len(res.Sites))
			}
			for _, p := range got.Problems {
				t.Error(p)
			}
		})
	}
}
