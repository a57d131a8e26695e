package browser_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestInbox_HappyPath follows one recipient through a page of another origin: the inbox sent
// before the page opened, a live notification, reading it (seen in a second tab too), the
// keyboard, and no console error along the way.
func TestInbox_HappyPath(t *testing.T) {
	ctx := testContext(t)
	st := newStack(ctx, t)
	// Sent before the page opens: the first page must show them, newest first.
	early := []string{
		st.send(ctx, t, note{Recipient: "alice", Content: "Your export is ready to download"}),
		st.send(ctx, t, note{Recipient: "alice", Title: "New follower", Content: "Dana started following you",
			ActionURL: "https://example.com/people/dana", Actions: []action{{"View profile", "/people/dana"}}}),
	}
	st.send(ctx, t, note{Recipient: "bob", Content: "Bob's own notification"})

	tab, consoleA := newTab(newBrowser(ctx, t), t)
	navigate(tab, t, st.pageURL("alice", "alice"))

	t.Run("loads the inbox from another origin", func(t *testing.T) {
		v := waitFor(tab, t, 10*time.Second, "live with the two early notifications", func(v inboxView) bool {
			return v.State == "live" && len(v.Items) == 2
		})
		if want := []string{early[1], early[0]}; !slices.Equal(v.ids(), want) {
			t.Errorf("items %v, want newest first %v", v.ids(), want)
		}
		v = waitFor(tab, t, 10*time.Second, "badge 2", func(v inboxView) bool { return v.Badge == "2" })
		if v.Unread != "2" || v.BellLabel != "Notifications, 2 unread" {
			t.Errorf("unread attribute %q, bell label %q", v.Unread, v.BellLabel)
		}
		rich, _ := v.item(early[1])
		if rich.Title != "New follower" || rich.Content != "Dana started following you" || rich.Status != "sent" || rich.Seen != "false" {
			t.Errorf("rich item = %+v", rich)
		}
		if want := st.host.URL + "/people/dana"; !slices.Equal(rich.Actions, []string{want}) { // a path, on the host page's site
			t.Errorf("action links %v, want %s", rich.Actions, want)
		}
		if v.TokenFetches == 0 {
			t.Error("getToken was never called")
		}
	})

	t.Run("opening the panel marks the shown ones seen", func(t *testing.T) {
		click(tab, t, "[part=bell]")
		waitFor(tab, t, 10*time.Second, "open, focus inside, all seen", func(v inboxView) bool {
			return v.PanelOpen && v.Expanded == "true" && v.FocusInPanel &&
				!slices.ContainsFunc(v.Items, func(it itemView) bool { return it.Seen != "true" })
		})
		st.waitAllSeen(ctx, t, "alice")
	})

	var live string
	// How soon is measured by BenchmarkSendToPanel (docs/BENCHMARKS.md), not asserted here:
	// the deadline is for a notification that never comes.
	t.Run("a live notification appears", func(t *testing.T) {
		sent := time.Now()
		live = st.send(ctx, t, note{Recipient: "alice", Title: "Build failed", Content: "main is red: 3 tests failed"})
		v := waitFor(tab, t, 10*time.Second, "the live notification on top and badge 3", func(v inboxView) bool {
			return len(v.Items) == 3 && v.Items[0].ID == live && v.Badge == "3"
		})
		t.Logf("shown %v after the send", time.Since(sent).Round(time.Millisecond))
		if it := v.Items[0]; it.Title != "Build failed" || it.Status != "sent" || it.Toggle != "Mark as read" {
			t.Errorf("live item = %+v", it)
		}
	})

	t.Run("mark as read, seen by a second tab", func(t *testing.T) {
		tabB, consoleB := newTab(tab, t)
		navigate(tabB, t, st.pageURL("alice", "alice"))
		waitFor(tabB, t, 10*time.Second, "second tab live with badge 3", func(v inboxView) bool {
			return v.State == "live" && len(v.Items) == 3 && v.Badge == "3"
		})

		click(tab, t, `[data-id="`+live+`"] [part=toggle-read]`)
		v := waitFor(tab, t, 10*time.Second, "read and badge 2", func(v inboxView) bool {
			it, _ := v.item(live)
			return it.Status == "read" && it.Toggle == "Mark as unread" && v.Badge == "2"
		})
		if v.BellLabel != "Notifications, 2 unread" {
			t.Errorf("bell label %q", v.BellLabel)
		}
		waitFor(tabB, t, 10*time.Second, "the second tab sees it read and badge 2", func(v inboxView) bool {
			it, _ := v.item(live)
			return it.Status == "read" && v.Badge == "2"
		})
		if errs := consoleB.list(); len(errs) > 0 {
			t.Errorf("second tab's console: %q", errs)
		}
	})

	t.Run("clicking an item with an actionUrl reads it and dispatches a cancelable navigate", func(t *testing.T) {
		click(tab, t, `[data-id="`+early[1]+`"] .body`)
		v := waitFor(tab, t, 10*time.Second, "read, badge 1, one navigation event", func(v inboxView) bool {
			it, _ := v.item(early[1])
			return it.Status == "read" && v.Badge == "1" && len(v.Navigations) == 1
		})
		if n := v.Navigations[0]; n.URL != "https://example.com/people/dana" || n.ID != early[1] {
			t.Errorf("navigate event %+v, want the action URL of %s", n, early[1])
		}
		// The host page prevented it: the page did not leave.
		loc, err := chromedp.Run(tab, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(loc, st.host.URL) {
			t.Errorf("the page navigated to %s although the event was canceled", loc)
		}
	})

	t.Run("keyboard: Home and arrows move between items, Escape closes and returns to the bell", func(t *testing.T) {
		v, err := snapshot(tab)
		if err != nil {
			t.Fatal(err)
		}
		focusedID := `document.querySelector('notify-inbox').shadowRoot.activeElement?.dataset.id || ''`
		for _, step := range []struct{ key, want string }{
			{kb.Home, v.Items[0].ID},
			{kb.ArrowDown, v.Items[1].ID},
			{kb.ArrowDown, v.Items[2].ID},
			{kb.ArrowDown, v.Items[2].ID}, // the last stays
			{kb.ArrowUp, v.Items[1].ID},
			{kb.End, v.Items[2].ID},
		} {
			if err := chromedp.Do(tab, chromedp.KeyEvent(step.key)); err != nil {
				t.Fatal(err)
			}
			got, err := chromedp.Run(tab, chromedp.Evaluate[string](focusedID))
			if err != nil {
				t.Fatal(err)
			}
			if got != step.want {
				t.Errorf("after %q focus is on item %q, want %q", step.key, got, step.want)
			}
		}
		if err := chromedp.Do(tab, chromedp.KeyEvent(kb.Escape)); err != nil {
			t.Fatal(err)
		}
		waitFor(tab, t, 10*time.Second, "closed, focus on the bell", func(v inboxView) bool {
			return !v.PanelOpen && v.Expanded == "false" && v.FocusOnBell
		})
	})

	t.Run("mark all as read", func(t *testing.T) {
		click(tab, t, "[part=bell]")
		click(tab, t, "[part=mark-all]")
		waitFor(tab, t, 10*time.Second, "every item read, badge hidden", func(v inboxView) bool {
			return v.Badge == "" && v.Unread == "0" && v.BellLabel == "Notifications, none unread" &&
				!slices.ContainsFunc(v.Items, func(it itemView) bool { return it.Status != "read" })
		})
	})

	t.Run("archive, unarchive and cancel follow the stream", func(t *testing.T) {
		click(tab, t, `[data-id="`+early[1]+`"] [part=archive]`)
		waitFor(tab, t, 10*time.Second, "archived one removed", func(v inboxView) bool {
			return slices.Equal(v.ids(), []string{live, early[0]})
		})
		st.command(ctx, t, early[1], "unarchive")
		waitFor(tab, t, 10*time.Second, "unarchived one back in its place", func(v inboxView) bool {
			return slices.Equal(v.ids(), []string{live, early[1], early[0]})
		})
		st.command(ctx, t, early[0], "cancel")
		v := waitFor(tab, t, 10*time.Second, "canceled one marked", func(v inboxView) bool {
			it, _ := v.item(early[0])
			return it.Status == "canceled"
		})
		if it, _ := v.item(early[0]); !it.Canceled || it.Toggle != "" {
			t.Errorf("canceled item %+v: want the Canceled label and no read toggle", it)
		}
	})

	t.Run("a click outside closes the panel", func(t *testing.T) {
		if err := chromedp.Do(tab, chromedp.MouseClickXY(20, 700)); err != nil {
			t.Fatal(err)
		}
		waitFor(tab, t, 10*time.Second, "closed", func(v inboxView) bool { return !v.PanelOpen && v.Expanded == "false" })
	})

	t.Run("no console errors", func(t *testing.T) {
		if errs := consoleA.list(); len(errs) > 0 {
			t.Errorf("console: %q", errs)
		}
	})
}

// TestInbox_ResumesAfterRestart stops the service with SIGTERM and starts it again on the
// same port and data: the component goes offline, reconnects with a fresh token, resumes
// after the last position it saw and shows each notification once.
func TestInbox_ResumesAfterRestart(t *testing.T) {
	ctx := testContext(t)
	st := newStack(ctx, t)
	before := st.send(ctx, t, note{Recipient: "alice", Content: "Sent before the page opened"})

	tab, _ := newTab(newBrowser(ctx, t), t)
	navigate(tab, t, st.pageURL("alice", "alice"))
	v := waitFor(tab, t, 10*time.Second, "live with one item", func(v inboxView) bool {
		return v.State == "live" && len(v.Items) == 1
	})
	live := st.send(ctx, t, note{Recipient: "alice", Content: "Sent while the page is live"})
	waitFor(tab, t, 10*time.Second, "the live one shown", func(v inboxView) bool { return len(v.Items) == 2 })
	tokensBefore := v.TokenFetches

	st.svc.stop(t)
	waitFor(tab, t, 10*time.Second, "offline after SIGTERM", func(v inboxView) bool { return v.State == "offline" })

	st.svc.start(ctx, t)
	// Sent at once after the restart: the component is still waiting out its backoff, so
	// this one reaches it through the resume (lastEventId), not as a live event.
	afterRestart := st.send(ctx, t, note{Recipient: "alice", Content: "Sent right after the restart"})
	if v, err := snapshot(tab); err == nil {
		t.Logf("state when the post-restart notification was sent: %s (not live: it arrives through the resume)", v.State)
	}
	v = waitFor(tab, t, 15*time.Second, "live again with the notification sent after the restart", func(v inboxView) bool {
		return v.State == "live" && slices.Contains(v.ids(), afterRestart)
	})
	if v.TokenFetches <= tokensBefore {
		t.Errorf("token fetches %d, %d before: the reconnect did not ask getToken for a fresh token", v.TokenFetches, tokensBefore)
	}
	reconnected := st.send(ctx, t, note{Recipient: "alice", Content: "Sent after the reconnect"})
	v = waitFor(tab, t, 10*time.Second, "the one sent after the reconnect", func(v inboxView) bool {
		return slices.Contains(v.ids(), reconnected)
	})
	if want := []string{reconnected, afterRestart, live, before}; !slices.Equal(v.ids(), want) {
		t.Errorf("items %v, want each once, newest first: %v", v.ids(), want)
	}
	if id, dup := duplicate(v.ids()); dup {
		t.Errorf("%s is shown twice", id)
	}
	if v.Badge != "4" {
		t.Errorf("badge %q, want 4", v.Badge)
	}
}

// TestInbox_RetriesOnceWithAFreshToken: a request answered 401 (the token expired) asks
// getToken again and is retried once, without an error shown.
func TestInbox_RetriesOnceWithAFreshToken(t *testing.T) {
	ctx := testContext(t)
	st := newStack(ctx, t)
	id := st.send(ctx, t, note{Recipient: "alice", Content: "Read me with an expired token"})
	tab, console := newTab(newBrowser(ctx, t), t)
	navigate(tab, t, st.pageURL("alice", "alice"))
	waitFor(tab, t, 10*time.Second, "live", func(v inboxView) bool { return v.State == "live" && len(v.Items) == 1 })
	click(tab, t, "[part=bell]")
	// Opening marks it seen with a request of its own: let that one land first.
	st.waitAllSeen(ctx, t, "alice")
	v, err := snapshot(tab)
	if err != nil {
		t.Fatal(err)
	}

	st.expireNext.Store(1) // the next token the page gets has expired
	click(tab, t, `[data-id="`+id+`"] [part=toggle-read]`)
	after := waitFor(tab, t, 10*time.Second, "read, badge hidden", func(v inboxView) bool {
		it, _ := v.item(id)
		return it.Status == "read" && v.Badge == ""
	})
	if got := after.TokenFetches - v.TokenFetches; got != 2 {
		t.Errorf("getToken called %d times for the command, want 2 (the expired token, then a fresh one)", got)
	}
	if after.StatusError {
		t.Errorf("status shows an error: %q", after.Status)
	}
	// The refused attempt is in the browser's network log, and nothing else.
	for _, msg := range console.list() {
		if !strings.HasPrefix(msg, "browser log (network): ") || !strings.Contains(msg, "401") {
			t.Errorf("console: %s", msg)
		}
	}
}

// TestInbox_Recipients: a token is for its subject only. A page asking for alice's inbox with
// bob's token shows the service's refusal and none of alice's notifications; bob's page shows
// only bob's; an empty inbox says so; switching the recipient and getToken of a live element
// restarts it on the other inbox.
func TestInbox_Recipients(t *testing.T) {
	ctx := testContext(t)
	st := newStack(ctx, t)
	alices := st.send(ctx, t, note{Recipient: "alice", Content: "For alice's eyes only"})
	bobs := st.send(ctx, t, note{Recipient: "bob", Content: "Hello bob"})

	browser := newBrowser(ctx, t)
	tests := []struct {
		name, recipient, subject string
		check                    func(inboxView) bool
	}{
		{"alice's inbox with bob's token", "alice", "bob", func(v inboxView) bool {
			return v.State == "offline" && v.StatusError && v.Status != "" && len(v.Items) == 0 && v.Badge == "" && !v.Empty
		}},
		{"bob's inbox with bob's token", "bob", "bob", func(v inboxView) bool {
			return v.State == "live" && slices.Equal(v.ids(), []string{bobs}) && v.Badge == "1"
		}},
		{"an empty inbox", "erin", "erin", func(v inboxView) bool {
			return v.State == "live" && v.Empty && len(v.Items) == 0 && v.Badge == "" && v.MarkAllOff
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tab, _ := newTab(browser, t)
			navigate(tab, t, st.pageURL(tc.recipient, tc.subject))
			v := waitFor(tab, t, 10*time.Second, tc.name, tc.check)
			t.Logf("state %s, status %q, items %v", v.State, v.Status, v.ids())
			if slices.Contains(v.ids(), alices) && tc.subject != "alice" {
				t.Errorf("alice's notification shown to %s", tc.subject)
			}
		})
	}

	t.Run("switching recipient and token restarts cleanly", func(t *testing.T) {
		tab, console := newTab(browser, t)
		navigate(tab, t, st.pageURL("alice", "alice"))
		waitFor(tab, t, 10*time.Second, "alice's inbox", func(v inboxView) bool {
			return v.State == "live" && slices.Equal(v.ids(), []string{alices})
		})
		// Both changes in one task: one restart, with bob's token from the start.
		if err := chromedp.Do(tab, chromedp.Evaluate[chromedp.Void](`(() => {
			const el = document.querySelector('notify-inbox');
			el.getToken = async () => (await fetch('/token?sub=bob')).text();
			el.setAttribute('recipient', 'bob');
		})()`)); err != nil {
			t.Fatal(err)
		}
		waitFor(tab, t, 10*time.Second, "bob's inbox only", func(v inboxView) bool {
			return v.State == "live" && slices.Equal(v.ids(), []string{bobs}) && v.Badge == "1"
		})
		// The old stream is closed: a change of alice's does not reach this element any more.
		later := st.send(ctx, t, note{Recipient: "bob", Content: "Bob again, after the switch"})
		v := waitFor(tab, t, 10*time.Second, "bob's new one", func(v inboxView) bool { return slices.Contains(v.ids(), later) })
		if slices.Contains(v.ids(), alices) {
			t.Errorf("alice's notification still shown: %v", v.ids())
		}
		if errs := console.list(); len(errs) > 0 {
			t.Errorf("console: %q", errs)
		}
	})
}

// TestInbox_StartsOverOnAnUnknownPosition: the service comes back with a wiped store, so the
// position the component resumes from is beyond the log head (400): it reloads from scratch.
func TestInbox_StartsOverOnAnUnknownPosition(t *testing.T) {
	ctx := testContext(t)
	st := newStack(ctx, t)
	for i := range 3 {
		st.send(ctx, t, note{Recipient: "alice", Content: fmt.Sprintf("Before the wipe, number %d", i+1)})
	}
	tab, _ := newTab(newBrowser(ctx, t), t)
	navigate(tab, t, st.pageURL("alice", "alice"))
	waitFor(tab, t, 10*time.Second, "live with three", func(v inboxView) bool { return v.State == "live" && len(v.Items) == 3 })

	st.svc.stop(t)
	waitFor(tab, t, 10*time.Second, "offline", func(v inboxView) bool { return v.State == "offline" })
	if err := os.RemoveAll(st.svc.dataDir); err != nil {
		t.Fatal(err)
	}
	st.svc.start(ctx, t)
	fresh := st.send(ctx, t, note{Recipient: "alice", Content: "The first of the new store"}) // position 1 < 3
	waitFor(tab, t, 15*time.Second, "live with only the new store's notification", func(v inboxView) bool {
		return v.State == "live" && slices.Equal(v.ids(), []string{fresh}) && v.Badge == "1"
	})
}

// TestInbox_BadgeCapsAt99: the badge says 99+ above 99; the label and attribute keep the number.
func TestInbox_BadgeCapsAt99(t *testing.T) {
	ctx := testContext(t)
	st := newStack(ctx, t)
	for i := range 100 {
		st.send(ctx, t, note{Recipient: "frank", Content: fmt.Sprintf("Notification number %d", i+1)})
	}
	tab, _ := newTab(newBrowser(ctx, t), t)
	navigate(tab, t, st.pageURL("frank", "frank"))
	waitFor(tab, t, 10*time.Second, "99+", func(v inboxView) bool {
		return v.Badge == "99+" && v.Unread == "100" && v.BellLabel == "Notifications, 100 unread"
	})
}

// TestDemoPage: the demo page the service serves (under its CSP: no inline script) connects
// its component with a pasted token and sends a test notification with a send key.
func TestDemoPage(t *testing.T) {
	ctx := testContext(t)
	st := newStack(ctx, t)
	tok, err := st.token("grace")
	if err != nil {
		t.Fatal(err)
	}
	tab, console := newTab(newBrowser(ctx, t), t)
	navigate(tab, t, st.svc.url+"/ui/demo")
	// The page connects at once as alice with no token, as suits the development mode; with
	// authentication on that stream is refused (401) until a token is pasted. Those refusals
	// are the only messages allowed before Connect.
	waitFor(tab, t, 10*time.Second, "the tokenless connection refused", func(v inboxView) bool { return v.StatusError })
	for _, msg := range console.list() {
		if !strings.HasPrefix(msg, "browser log (network): ") || !strings.Contains(msg, "401") || !strings.HasSuffix(msg, "/v1/recipients/alice/stream") {
			t.Errorf("before Connect: %s", msg)
		}
	}
	before := len(console.list())
	if err := chromedp.Do(tab,
		chromedp.SetValue(chromedp.ID("recipient"), "grace"),
		chromedp.SetValue(chromedp.ID("token"), tok),
		chromedp.Click(chromedp.CSS("#connect-form button[type=submit]")),
	); err != nil {
		t.Fatalf("connect: %v", err)
	}
	waitFor(tab, t, 10*time.Second, "live and empty", func(v inboxView) bool { return v.State == "live" && v.Empty })
	if err := chromedp.Do(tab,
		chromedp.SetValue(chromedp.ID("title"), "Hello from the demo"),
		chromedp.SetValue(chromedp.ID("action-url"), "/welcome"),
		chromedp.SetValue(chromedp.ID("api-key"), st.apiKey),
		chromedp.Click(chromedp.CSS("#send-form button[type=submit]")),
	); err != nil {
		t.Fatalf("send: %v", err)
	}
	waitFor(tab, t, 10*time.Second, "the demo's notification", func(v inboxView) bool {
		return len(v.Items) == 1 && v.Items[0].Title == "Hello from the demo" && v.Badge == "1"
	})
	result, err := chromedp.Run(tab, chromedp.Text(chromedp.ID("send-result")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(result, "Sent: ") {
		t.Errorf("send result %q", result)
	}
	if errs := console.list()[before:]; len(errs) > 0 {
		t.Errorf("console (a CSP violation shows here): %q", errs)
	}
}

// TestInbox_Paging loads further pages as the list scrolls, each notification once, and
// marks the ones it shows seen as they arrive in the open panel.
func TestInbox_Paging(t *testing.T) {
	ctx := testContext(t)
	st := newStack(ctx, t)
	var ids []string
	for i := range 8 {
		ids = append(ids, st.send(ctx, t, note{Recipient: "dave", Content: fmt.Sprintf("Paged notification number %d", i+1)}))
	}
	slices.Reverse(ids) // newest first

	tab, _ := newTab(newBrowser(ctx, t), t)
	navigate(tab, t, st.pageURL("dave", "dave")+"&size=3")
	waitFor(tab, t, 10*time.Second, "live with the first page", func(v inboxView) bool {
		return v.State == "live" && slices.Equal(v.ids(), ids[:3])
	})
	click(tab, t, "[part=bell]")
	scroll := chromedp.Evaluate[chromedp.Void](`(s => { s.scrollTop = s.scrollHeight; })(` +
		`document.querySelector('notify-inbox').shadowRoot.querySelector('.scroller'))`)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := chromedp.Do(tab, scroll); err != nil {
			t.Fatalf("scroll: %v", err)
		}
		v, err := snapshot(tab)
		if err != nil {
			t.Fatal(err)
		}
		if id, dup := duplicate(v.ids()); dup {
			t.Fatalf("%s shown twice: %v", id, v.ids())
		}
		if len(v.Items) == len(ids) {
			if !slices.Equal(v.ids(), ids) {
				t.Errorf("items %v, want %v", v.ids(), ids)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("scrolled to %d of %d items", len(v.Items), len(ids))
		}
		time.Sleep(20 * time.Millisecond)
	}
	st.waitAllSeen(ctx, t, "dave")
}

// TestInbox_Screenshot renders the open panel with a few rich notifications and checks the
// picture decodes; UPDATE_SCREENSHOT=1 writes it to docs/notify-inbox.png.
func TestInbox_Screenshot(t *testing.T) {
	ctx := testContext(t)
	st := newStack(ctx, t)
	canceled := st.send(ctx, t, note{Recipient: "carol", Title: "Maintenance window", Content: "Tonight's database maintenance is moved to Saturday 02:00 UTC."})
	st.command(ctx, t, canceled, "cancel")
	read := st.send(ctx, t, note{Recipient: "carol", Title: "Invoice INV-2041 is ready", Content: "Your November invoice of €184.00 is available.",
		Actions: []action{{"Download PDF", "https://example.com/invoices/2041.pdf"}}})
	st.command(ctx, t, read, "read")
	st.send(ctx, t, note{Recipient: "carol", Title: "New comment on “Q4 roadmap”", Content: "Dana: Looks great. Can we ship the first milestone on Friday?",
		ActionURL: "/docs/q4-roadmap#c91", Actions: []action{{"Reply", "/docs/q4-roadmap#reply"}}})
	st.send(ctx, t, note{Recipient: "carol", Title: "Deploy finished", Content: "web-app #482 is live in production (3 min 12 s).",
		ActionURL: "https://example.com/deploys/482", Actions: []action{{"View logs", "https://example.com/deploys/482/logs"}, {"Roll back", "https://example.com/deploys/482/rollback"}}})

	tab, _ := newTab(newBrowser(ctx, t), t)
	const width, height = 520, 720
	// Reduced motion: the component must not animate then, and the picture is not mid-fade.
	if _, err := chromedp.Call(tab, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-reduced-motion", Value: "reduce"}},
	}); err != nil {
		t.Fatalf("emulate reduced motion: %v", err)
	}
	if err := chromedp.Do(tab, chromedp.EmulateViewport(width, height)); err != nil {
		t.Fatalf("viewport: %v", err)
	}
	navigate(tab, t, st.pageURL("carol", "carol"))
	waitFor(tab, t, 10*time.Second, "live with four items", func(v inboxView) bool { return v.State == "live" && len(v.Items) == 4 })
	click(tab, t, "[part=bell]")
	v := waitFor(tab, t, 10*time.Second, "panel open, badge 2", func(v inboxView) bool { return v.PanelOpen && v.Badge == "2" })
	if v.Animating {
		t.Error("an animation runs although the page prefers reduced motion")
	}
	if err := chromedp.Do(tab,
		// Themed through a documented custom property: room for all four.
		chromedp.Evaluate[chromedp.Void](`document.querySelector('notify-inbox').style.setProperty('--notify-panel-max-height', '640px')`),
		// Focus off the first item and the pointer off the bell: no focus ring or hover in the picture.
		chromedp.Evaluate[chromedp.Void](`document.querySelector('notify-inbox').shadowRoot.querySelector('[part=panel]').focus()`),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, 10, height-10),
	); err != nil {
		t.Fatalf("prepare the picture: %v", err)
	}
	buf, err := chromedp.Run(tab, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(buf))
	if err != nil {
		t.Fatalf("the screenshot is not a PNG: %v", err)
	}
	if cfg.Width != width || cfg.Height != height {
		t.Errorf("screenshot %dx%d, want %dx%d", cfg.Width, cfg.Height, width, height)
	}
	if _, _, err := image.Decode(bytes.NewReader(buf)); err != nil {
		t.Errorf("decode the screenshot: %v", err)
	}
	out := filepath.Join(t.TempDir(), "notify-inbox.png")
	if os.Getenv("UPDATE_SCREENSHOT") == "1" {
		out = filepath.Join("..", "..", "..", "docs", "notify-inbox.png")
	}
	if err := os.WriteFile(out, buf, 0o644); err != nil {
		t.Fatalf("write %s: %v", out, err)
	}
	t.Logf("screenshot: %s (%d bytes)", out, len(buf))
}

// TestInbox_FollowingALinkReadsIt: a page that lets the component navigate leaves at once;
// the read is sent all the same (the README's getToken fetches a token, which the page would
// not live to see), for the item's own link and for an action link.
func TestInbox_FollowingALinkReadsIt(t *testing.T) {
	ctx := testContext(t)
	st := newStack(ctx, t)
	landing := st.host.URL + "/landing"
	st.send(ctx, t, note{Recipient: "alice", Title: "Open me", Content: "the item's own link", ActionURL: landing})
	st.send(ctx, t, note{Recipient: "alice", Title: "Or this", Content: "an action link", Actions: []action{{"Go", landing + "?via=action"}}})
	tab, _ := newTab(newBrowser(ctx, t), t)
	for _, tc := range []struct{ name, selector, lands string }{
		{"the item's link", "[part=item]:nth-child(2) .body", landing},
		{"an action link", "[part=action]", landing + "?via=action"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := st.counts(ctx, t, "alice").Unread
			navigate(tab, t, st.pageURL("alice", "alice"))
			waitFor(tab, t, 10*time.Second, "live with both", func(v inboxView) bool { return v.State == "live" && len(v.Items) == 2 })
			if err := chromedp.Do(tab, chromedp.Evaluate[chromedp.Void](`window.letNavigate = true`)); err != nil {
				t.Fatal(err)
			}
			click(tab, t, "[part=bell]")
			st.tokenDelay.Store(int64(300 * time.Millisecond)) // longer than the landing page takes
			defer st.tokenDelay.Store(0)
			click(tab, t, tc.selector)
			deadline := time.Now().Add(10 * time.Second)
			for {
				loc, err := chromedp.Run(tab, chromedp.Location())
				if err == nil && loc == tc.lands {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the page is at %s (%v), want %s", loc, err, tc.lands)
				}
				time.Sleep(20 * time.Millisecond)
			}
			for deadline = time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				if got := st.counts(ctx, t, "alice").Unread; got == before-1 {
					break
				} else if time.Now().After(deadline) {
					t.Fatalf("unread %d after following the link, want %d: the read was lost with the page", got, before-1)
				}
			}
		})
	}
}
