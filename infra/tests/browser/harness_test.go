package browser_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/golang-jwt/jwt/v5"

	"github.com/eventnotify/notify/infra/tests/proc"
	"github.com/eventnotify/notify/infra/transport/httpapi/auth"
)

const (
	issuer   = "https://id.browser.test"
	audience = "notify"
)

var (
	binary   string // the notify binary TestMain built; empty when there is no browser
	chromium string // the browser's path; empty when none is installed
)

// browserRequired makes a missing browser a failure instead of a skip (CI sets it).
func browserRequired() bool { return os.Getenv("NOTIFY_BROWSER_TESTS") == "required" }

func TestMain(m *testing.M) {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			chromium = p
			break
		}
	}
	if chromium == "" {
		// Every test skips (or fails when required) in needBrowser; nothing to build.
		os.Exit(m.Run())
	}
	bin, remove, err := proc.Build("../../..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = bin
	code := m.Run()
	remove()
	os.Exit(code)
}

// needBrowser skips the test when Chromium is not installed, or fails it when required.
func needBrowser(t testing.TB) {
	t.Helper()
	if chromium != "" {
		return
	}
	const msg = "Chromium is not installed (looked for chromium, chromium-browser, google-chrome on PATH)"
	if browserRequired() {
		t.Fatal(msg + ", and NOTIFY_BROWSER_TESTS=required")
	}
	t.Skip(msg + "; install it to run the browser tests (NOTIFY_BROWSER_TESTS=required makes this a failure)")
}

// ---- the service ------------------------------------------------------------------------

// service is one notify process; restart starts a new one with the same flags (port, data).
type service struct {
	addr, url string
	dataDir   string
	args      []string
	logs      *proc.Output
	cmd       *exec.Cmd
	exited    chan struct{}
}

// start runs the binary and waits until /readyz answers 200.
func (s *service) start(ctx context.Context, t testing.TB) {
	t.Helper()
	cmd := exec.Command(binary, s.args...)
	// One client IP makes every anonymous request here; the rate limit is tested elsewhere.
	cmd.Env = append(os.Environ(), "NOTIFY_RATE_LIMIT=0")
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start notify: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/readyz", nil)
		if err != nil {
			t.Fatal(err)
		}
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-exited:
			t.Fatalf("notify exited at start; logs:\n%s", s.logs)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("notify was not ready within 15s; logs:\n%s", s.logs)
}

// stop sends SIGTERM, as an orchestrator would, and waits for the process to end.
func (s *service) stop(t testing.TB) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		t.Fatalf("notify did not stop within 15s of SIGTERM; logs:\n%s", s.logs)
	}
}

// ---- the stack: service, credentials and the host page's server -------------------------

// stack is a service with authentication and CORS on, and the host page of another origin.
type stack struct {
	svc    *service
	host   *httptest.Server
	secret []byte
	apiKey string // an X-Api-Key with scope send
	// expireNext makes the host's /token hand out this many expired tokens before good ones.
	expireNext atomic.Int32
	// tokenDelay makes the host's /token answer this much later (nanoseconds), as a real
	// backend over a real network does.
	tokenDelay atomic.Int64
}

// newStack starts a service with authentication, CORS for the host page and the demo page
// on, and the host page's server; extra flags are added to the service's.
func newStack(ctx context.Context, t testing.TB, extra ...string) *stack {
	t.Helper()
	needBrowser(t)
	dir := t.TempDir()
	// The secret is hex: the service trims a line end from a secret file, which raw random bytes
	// may end in (one stack in 128 refused its secret as too short).
	st := &stack{secret: []byte(hex.EncodeToString(randomBytes(t, 32))), apiKey: hex.EncodeToString(randomBytes(t, 32))}
	secretFile, keysFile := filepath.Join(dir, "jwt-secret"), filepath.Join(dir, "api-keys")
	writeFile(t, secretFile, st.secret)
	writeFile(t, keysFile, []byte(auth.HashKey(st.apiKey)+":send\n"))

	addr := proc.FreeAddr(t)
	svcURL := "http://" + addr
	st.host = httptest.NewServer(hostHandler(t, svcURL, st.hostToken))
	t.Cleanup(st.host.Close)
	st.svc = &service{
		addr: addr, url: svcURL, logs: &proc.Output{}, dataDir: filepath.Join(dir, "data"),
		args: []string{
			"--data-dir", filepath.Join(dir, "data"), "--http-addr", addr, "--ui-demo",
			"--auth-jwt-secret-file", secretFile, "--auth-jwt-issuer", issuer, "--auth-jwt-audience", audience,
			"--auth-api-keys-file", keysFile,
			"--cors-origins", st.host.URL, // the host page's origin: another port is another origin
		},
	}
	st.svc.args = append(st.svc.args, extra...)
	st.svc.start(ctx, t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("service logs:\n%s", st.svc.logs)
		}
	})
	return st
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// token mints a recipient token as the app's backend would: HS256, sub = the recipient.
func (st *stack) token(subject string) (string, error) {
	return st.mint(subject, 10*time.Minute)
}

// hostToken is the host's /token: a good token, or an expired one while expireNext says so.
func (st *stack) hostToken(subject string) (string, error) {
	time.Sleep(time.Duration(st.tokenDelay.Load()))
	if st.expireNext.Add(-1) >= 0 {
		return st.mint(subject, -5*time.Minute) // beyond the service's 30 s leeway
	}
	st.expireNext.Store(0)
	return st.token(subject)
}

func (st *stack) mint(subject string, ttl time.Duration) (string, error) {
	now := time.Now()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Subject: subject, Issuer: issuer, Audience: jwt.ClaimStrings{audience},
		IssuedAt: jwt.NewNumericDate(now.Add(min(ttl, 0) - time.Minute)), ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}).SignedString(st.secret)
	if err != nil {
		return "", fmt.Errorf("sign token for %s: %w", subject, err)
	}
	return tok, nil
}

// hostPage is the app's page: it loads the component from the service (another origin) and
// gives it a getToken that asks the page's own backend, /token.
var hostPage = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>host app</title>
<style>
  body { margin: 0; font-family: system-ui, sans-serif; background: #f6f8fa; }
  header { display: flex; justify-content: space-between; align-items: center; padding: 8px 16px;
    background: #fff; border-bottom: 1px solid #d0d7de; }
  h1 { font-size: 16px; margin: 0; }
</style>
<script type="module" src="/host.js"></script>
<script type="module" src="{{.Service}}/ui/notify-inbox.js"></script>
</head><body>
<header><h1>Acme app</h1><notify-inbox server="{{.Service}}" recipient="{{.Recipient}}"{{with .PageSize}} page-size="{{.}}"{{end}}></notify-inbox></header>
</body></html>`))

// hostJS runs before the component is defined, so it also tests that a getToken set on the
// not-yet-upgraded element is taken over. It counts the tokens fetched, and records and
// cancels the component's navigations unless window.letNavigate is set (the page stays, the
// test reads window.navigations).
const hostJS = `const params = new URLSearchParams(location.search);
const subject = params.get('as') || params.get('recipient') || 'alice';
window.tokenFetches = 0;
window.navigations = [];
document.querySelector('notify-inbox').getToken = async () => {
  window.tokenFetches++;
  const res = await fetch('/token?sub=' + encodeURIComponent(subject), { cache: 'no-store' });
  if (!res.ok) throw new Error('token endpoint: HTTP ' + res.status);
  return res.text();
};
document.addEventListener('notify-inbox:navigate', (e) => {
  window.navigations.push({ URL: e.detail.url, ID: e.detail.notification.id });
  if (!window.letNavigate) e.preventDefault();
});
`

func hostHandler(t testing.TB, svcURL string, mint func(string) (string, error)) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		recipient := r.URL.Query().Get("recipient")
		if recipient == "" {
			recipient = "alice"
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		data := map[string]string{"Service": svcURL, "Recipient": recipient, "PageSize": r.URL.Query().Get("size")}
		if err := hostPage.Execute(w, data); err != nil {
			t.Errorf("host page: %v", err)
		}
	})
	mux.HandleFunc("GET /host.js", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		io.WriteString(w, hostJS)
	})
	mux.HandleFunc("GET /token", func(w http.ResponseWriter, r *http.Request) {
		tok, err := mint(r.URL.Query().Get("sub"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, tok)
	})
	mux.HandleFunc("GET /landing", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<!doctype html><title>landing</title><p>landed</p>`)
	})
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	return mux
}

// pageURL is the host page showing recipient's inbox with a token of subject.
func (st *stack) pageURL(recipient, subject string) string {
	return fmt.Sprintf("%s/?recipient=%s&as=%s", st.host.URL, recipient, subject)
}

// note is what the tests send.
type note struct {
	Recipient string   `json:"recipientId"`
	Content   string   `json:"content"`
	Category  string   `json:"category"`
	Title     string   `json:"title,omitempty"`
	ActionURL string   `json:"actionUrl,omitempty"`
	Actions   []action `json:"actions,omitempty"`
	Tags      []string `json:"tags,omitempty"`
}

type action struct {
	Label string `json:"label"`
	URL   string `json:"url"`
}

// send posts a notification with the send key, as a trusted service does; it returns the id.
func (st *stack) send(ctx context.Context, t testing.TB, n note) string {
	t.Helper()
	if n.Category == "" {
		n.Category = "test"
	}
	var out struct{ ID string }
	st.post(ctx, t, "/v1/notifications", n, http.StatusCreated, &out)
	return out.ID
}

// command posts /v1/notifications/{id}/{verb} with the send key.
func (st *stack) command(ctx context.Context, t testing.TB, id, verb string) {
	t.Helper()
	st.post(ctx, t, "/v1/notifications/"+id+"/"+verb, nil, http.StatusOK, nil)
}

func (st *stack) post(ctx context.Context, t testing.TB, path string, body any, want int, out any) {
	t.Helper()
	if err := st.do(ctx, http.MethodPost, path, body, want, out, "X-Api-Key", st.apiKey); err != nil {
		t.Fatal(err)
	}
}

// counts reads the recipient's counts with the recipient's own token.
func (st *stack) counts(ctx context.Context, t testing.TB, recipient string) (c struct{ Total, Unread, Unseen int }) {
	t.Helper()
	tok, err := st.token(recipient)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.do(ctx, http.MethodGet, "/v1/recipients/"+recipient+"/notifications/count", nil, http.StatusOK, &c, "Authorization", "Bearer "+tok); err != nil {
		t.Fatal(err)
	}
	return c
}

// waitAllSeen waits until the service counts none of recipient's notifications unseen: the
// component's bulk seen request has landed.
func (st *stack) waitAllSeen(ctx context.Context, t testing.TB, recipient string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for c := st.counts(ctx, t, recipient); c.Unseen != 0; c = st.counts(ctx, t, recipient) {
		if time.Now().After(deadline) {
			t.Fatalf("counts of %s %+v: the shown notifications were not all marked seen", recipient, c)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (st *stack) do(ctx context.Context, method, path string, body any, want int, out any, headers ...string) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, st.svc.url+path, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if res.StatusCode != want {
		return fmt.Errorf("%s %s = %d %s, want %d", method, path, res.StatusCode, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode %s: %w", method, path, b, err)
		}
	}
	return nil
}

// ---- the browser ------------------------------------------------------------------------

// newBrowser starts headless Chromium and returns the context of its first tab.
func newBrowser(ctx context.Context, t testing.TB) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox, // containers run the tests as root
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1024, 768),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	tab, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("start Chromium (%s): %v", chromium, err)
	}
	return tab
}

// consoleErrors collects a tab's uncaught exceptions, console.error calls and the browser's
// own error log (failed loads, CSP violations).
type consoleErrors struct {
	mu   sync.Mutex
	msgs []string
}

func (c *consoleErrors) list() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.msgs...)
}

// newTab opens another tab of the browser of ctx, listening to its console from the start.
func newTab(ctx context.Context, t testing.TB) (context.Context, *consoleErrors) {
	t.Helper()
	tab, cancel := chromedp.NewContext(ctx)
	t.Cleanup(cancel)
	errs, err := listenConsole(tab)
	if err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return tab, errs
}

// listenConsole opens the tab of ctx if need be and collects its errors from then on.
func listenConsole(tab context.Context) (*consoleErrors, error) {
	errs := &consoleErrors{}
	err := chromedp.Listen(tab, func(ev any) {
		var msg string
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			msg = "exception: " + ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				msg += " " + ev.ExceptionDetails.Exception.Description
			}
		case *runtime.EventConsoleAPICalled:
			if ev.Type != runtime.ConsoleAPICalledTypeError {
				return
			}
			parts := make([]string, 0, len(ev.Args))
			for _, a := range ev.Args {
				parts = append(parts, string(a.Value)+a.Description)
			}
			msg = "console.error: " + strings.Join(parts, " ")
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level != cdplog.EntryLevelError {
				return
			}
			msg = fmt.Sprintf("browser log (%s): %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
		default:
			return
		}
		errs.mu.Lock()
		errs.msgs = append(errs.msgs, msg)
		errs.mu.Unlock()
	})
	if err != nil {
		return nil, fmt.Errorf("listen to the console: %w", err)
	}
	return errs, nil
}

// inboxView is what the component shows, read from its shadow root.
type inboxView struct {
	Defined      bool
	State        string
	Unread       string
	Badge        string // "" when the badge is hidden
	BellLabel    string
	Expanded     string
	PanelOpen    bool
	Status       string
	StatusError  bool
	Empty        bool
	MarkAllOff   bool // the Mark all as read button is disabled
	Items        []itemView
	TokenFetches int
	Navigations  []struct{ URL, ID string }
	Animating    bool // an animation of the component is running
	FocusInPanel bool
	FocusOnBell  bool
}

type itemView struct {
	ID, Status, Seen, Title, Content, Toggle, Time string
	Canceled                                       bool // the "Canceled" label shows
	Actions                                        []string
}

func (v inboxView) ids() []string {
	ids := make([]string, len(v.Items))
	for i, it := range v.Items {
		ids[i] = it.ID
	}
	return ids
}

func (v inboxView) item(id string) (itemView, bool) {
	for _, it := range v.Items {
		if it.ID == id {
			return it, true
		}
	}
	return itemView{}, false
}

// snapshotJS reads the component's state through its open shadow root.
const snapshotJS = `(() => {
  const el = document.querySelector('notify-inbox');
  const root = el && el.shadowRoot;
  if (!root || !customElements.get('notify-inbox')) return { Defined: false };
  const q = (s) => root.querySelector(s);
  const badge = q('[part=badge]'), status = q('[part=status]');
  return {
    Defined: true,
    State: el.getAttribute('state') || '',
    Unread: el.getAttribute('unread') || '',
    Badge: badge.hidden ? '' : badge.textContent,
    BellLabel: q('[part=bell]').getAttribute('aria-label'),
    Expanded: q('[part=bell]').getAttribute('aria-expanded'),
    PanelOpen: !q('[part=panel]').hidden,
    Status: status.textContent,
    StatusError: status.classList.contains('error'),
    Empty: !q('[part=empty]').hidden,
    MarkAllOff: q('[part=mark-all]').disabled,
    Items: [...root.querySelectorAll('[part=item]')].map((li) => ({
      ID: li.dataset.id, Status: li.dataset.status, Seen: li.dataset.seen,
      Title: li.querySelector('[part=item-title]')?.textContent || '',
      Content: li.querySelector('[part=item-content]')?.textContent || '',
      Toggle: (t => t && !t.hidden ? t.textContent : '')(li.querySelector('[part=toggle-read]')),
      Time: li.querySelector('time')?.getAttribute('datetime') || '',
      Canceled: !li.querySelector('.canceled-label').hidden,
      Actions: [...li.querySelectorAll('[part=action]')].map((a) => a.getAttribute('href')),
    })),
    TokenFetches: window.tokenFetches || 0,
    Navigations: window.navigations || [],
    Animating: root.getAnimations().some((a) => a.playState === 'running'),
    FocusInPanel: q('[part=panel]').contains(root.activeElement),
    FocusOnBell: root.activeElement === q('[part=bell]'),
  };
})()`

func snapshot(ctx context.Context) (inboxView, error) {
	v, err := chromedp.Run(ctx, chromedp.Evaluate[inboxView](snapshotJS))
	if err != nil {
		return v, fmt.Errorf("read the component: %w", err)
	}
	return v, nil
}

// waitFor polls the component until ok holds, failing the test after within.
func waitFor(ctx context.Context, t testing.TB, within time.Duration, what string, ok func(inboxView) bool) inboxView {
	t.Helper()
	deadline := time.Now().Add(within)
	var last inboxView
	var lastErr error
	for {
		v, err := snapshot(ctx)
		if err == nil {
			if ok(v) {
				return v
			}
			last = v
		}
		lastErr = err
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last view %+v (err %v)", what, within, last, lastErr)
		}
		time.Sleep(15 * time.Millisecond)
	}
}

// shadow is the JS path of an element of the component's shadow root, for chromedp.JSPath
// (chromedp's selectors do not cross shadow roots; a JS path does, and the click is a real
// mouse event at the element's place).
func shadow(selector string) string {
	return fmt.Sprintf("document.querySelector('notify-inbox').shadowRoot.querySelector(%q)", selector)
}

func click(ctx context.Context, t testing.TB, selector string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.JSPath(shadow(selector)))); err != nil {
		t.Fatalf("click %s: %v", selector, err)
	}
}

func navigate(ctx context.Context, t testing.TB, url string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
}

// duplicate reports the first id shown twice, if any.
func duplicate(ids []string) (string, bool) {
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			return id, true
		}
		seen[id] = true
	}
	return "", false
}
