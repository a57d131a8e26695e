package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/eventnotify/notify/app/command"
	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/app/query"
	"github.com/eventnotify/notify/domain/notification"
	"github.com/eventnotify/notify/infra/transport/httpapi/auth"
	"github.com/eventnotify/notify/projections/inbox"
)

// v1 serves the versioned routes: commands answering with the id and log position, one
// notification, its history, inbox pages and counts.
type v1 struct{ deps }

// accepted is what a /v1 command answers: the notification and the log position of its
// latest event (pass it back as Notify-Min-Position to read your write).
type accepted struct {
	ID       string              `json:"id"`
	Position eventstore.Position `json:"position"`
}

func (v v1) send(c echo.Context) error {
	res, err := runSendV1(v.deps, c)
	if err != nil {
		return err
	}
	setPosition(c, res)
	c.Response().Header().Set(echo.HeaderLocation, "/v1/notifications/"+res.Notification.ID())
	return c.JSON(http.StatusCreated, accepted{res.Notification.ID(), res.Position})
}

// change answers a /v1 change with the notification's id and position.
func (v v1) change(run runCommand) echo.HandlerFunc {
	return func(c echo.Context) error {
		res, err := run(v.deps, c)
		if err != nil {
			return err
		}
		setPosition(c, res)
		return c.JSON(http.StatusOK, accepted{res.Notification.ID(), res.Position})
	}
}

// load reads a notification for the caller: a recipient token sees only its own (anything
// else is the same 404 as an unknown id).
func (v v1) load(c echo.Context) (*notification.Notification, []query.HistoryEntry, error) {
	id := param(c, "id")
	n, history, err := v.Notifications.History(c.Request().Context(), id)
	if err != nil {
		return nil, nil, err
	}
	if p := principal(c); v.Security.Auth.Enabled() && !p.Has(auth.ScopeAdmin) && n.RecipientID() != p.Subject {
		return nil, nil, fmt.Errorf("%w: no notification has id %s", notification.ErrNotFound, n.ID())
	}
	return n, history, nil
}

func (v v1) notification(c echo.Context) error {
	n, history, err := v.load(c)
	if err != nil {
		return err
	}
	last := history[len(history)-1].Position
	c.Response().Header().Set(HeaderPosition, fmt.Sprint(uint64(last)))
	return c.JSON(http.StatusOK, query.ViewOf(n, eventstore.Position(history[0].Position)))
}

func (v v1) history(c echo.Context) error {
	_, history, err := v.load(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"events": history})
}

// count answers {"total","unread","unseen"} for a recipient.
func (v v1) count(c echo.Context) error {
	if err := seed(v).awaitPosition(c); err != nil {
		return err
	}
	counts, err := v.Inbox.Count(c.Request().Context(), param(c, "recipientId"))
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, fmt.Appendf(nil, `{"total":%d,"unread":%d,"unseen":%d}`, counts.Total, counts.Unread, counts.Unseen))
}

// page answers GET /v1/recipients/:recipientId/notifications?status=&category=&tag=&archived=&limit=&cursor=
// with {"notifications":[…],"nextCursor":"…"}; the cursor is opaque to clients.
func (v v1) page(c echo.Context) error {
	if err := seed(v).awaitPosition(c); err != nil {
		return err
	}
	q := inbox.PageQuery{Recipient: param(c, "recipientId"), Category: c.QueryParam("category"), Tag: c.QueryParam("tag")}
	arch, err := query.ParseArchived(c.QueryParam("archived"))
	if err != nil {
		return err
	}
	q.Archived = arch
	switch st := c.QueryParam("status"); st {
	case "", "all":
	case "unread", "sent": // a notification's status field says sent
		q.Status = inbox.StatusSent
	case "read":
		q.Status = inbox.StatusRead
	case "canceled":
		q.Status = inbox.StatusCanceled
	default:
		return &notification.ValidationError{Field: "status", Rule: "must be unread (or sent), read, canceled or all (the default)"}
	}
	if l := c.QueryParam("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > query.MaxPage {
			return &notification.ValidationError{Field: "limit", Rule: fmt.Sprintf("must be a whole number from 1 to %d (default %d)", query.MaxPage, query.DefaultPage)}
		}
		q.Limit = n
	}
	if cur := c.QueryParam("cursor"); cur != "" {
		p, err := decodeCursor(cur)
		if err != nil {
			return &notification.ValidationError{Field: "cursor", Rule: "must be a nextCursor this API returned"}
		}
		q.Before = p
	}
	page, err := v.Inbox.Page(c.Request().Context(), q)
	if err != nil {
		return err
	}
	b := append([]byte(nil), `{"notifications":[`...)
	for i, d := range page.Items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, d...)
	}
	b = append(b, ']')
	if page.Next != 0 {
		b = fmt.Appendf(b, `,"nextCursor":%q`, encodeCursor(page.Next))
	}
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, append(b, '}'))
}

// Cursors are base64url("v1:" + position), so clients treat them as opaque.
func encodeCursor(p eventstore.Position) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "v1:%d", uint64(p)))
}

func decodeCursor(s string) (eventstore.Position, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || !strings.HasPrefix(string(b), "v1:") {
		return 0, fmt.Errorf("bad cursor")
	}
	p, err := strconv.ParseUint(string(b[3:]), 10, 64)
	if err != nil || p == 0 {
		return 0, fmt.Errorf("bad cursor")
	}
	return eventstore.Position(p), nil
}

// readAll answers POST /v1/recipients/:recipientId/notifications/read-all with {"read":n}
// and the log position of the last change.
func (v v1) readAll(c echo.Context) error {
	if v.ReadAll == nil {
		return echo.NewHTTPError(http.StatusNotFound, "read-all is not available")
	}
	res, err := v.ReadAll.Handle(c.Request().Context(), command.ReadAllNotifications{Meta: commandMeta(c), RecipientID: param(c, "recipientId")})
	if err != nil {
		return err
	}
	if res.Position > 0 {
		c.Response().Header().Set(HeaderPosition, strconv.FormatUint(uint64(res.Position), 10))
	}
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, fmt.Appendf(nil, `{"read":%d}`, res.Read))
}

// bulkRequest is the body of POST /v1/recipients/:recipientId/notifications/bulk: an action
// and either ids or a filter.
type bulkRequest struct {
	Action string          `json:"action"`
	IDs    []string        `json:"ids"`
	Filter json.RawMessage `json:"filter"`
}

type bulkFilter struct {
	Category string     `json:"category"`
	Tag      string     `json:"tag"`
	Status   string     `json:"status"`
	Before   *time.Time `json:"before"`
}

// bulk answers a bulk change with {"matched","changed","more"} and the log position of the
// last change.
func (v v1) bulk(c echo.Context) error {
	if v.Bulk == nil {
		return echo.NewHTTPError(http.StatusNotFound, "bulk changes are not available")
	}
	var req bulkRequest
	if err := decodeJSON(c, MaxBody, &req); err != nil {
		return err
	}
	// Read your writes: a filter sent right after a send selects it too.
	if err := seed(v).awaitPosition(c); err != nil {
		return err
	}
	cmd := command.BulkChange{Meta: commandMeta(c), RecipientID: param(c, "recipientId"), Action: req.Action, IDs: req.IDs}
	hasFilter := len(req.Filter) > 0 && string(req.Filter) != "null"
	switch {
	case len(req.IDs) > 0 && hasFilter:
		return &notification.ValidationError{Field: "filter", Rule: "give ids or a filter, not both"}
	case len(req.IDs) == 0 && !hasFilter:
		return &notification.ValidationError{Field: "ids", Rule: "give the ids to change, or a filter ({} selects every notification)"}
	case hasFilter:
		// Strict, unlike the other bodies: a misspelt filter field would widen the change to
		// every notification.
		var f bulkFilter
		dec := json.NewDecoder(bytes.NewReader(req.Filter))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			rule := "must be an object of category, tag, status and before (an RFC 3339 time)"
			if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
				rule = "has no field " + name + ": it takes category, tag, status and before"
			}
			return &notification.ValidationError{Field: "filter", Rule: rule}
		}
		if f.Status != "" && !slices.Contains([]string{"unread", "sent", "read", "canceled"}, f.Status) {
			return &notification.ValidationError{Field: "filter.status", Rule: "must be unread, sent, read or canceled"}
		}
		if f.Tag != "" && !notification.ValidTag(f.Tag) {
			return &notification.ValidationError{Field: "filter.tag", Rule: "must be a tag: 1 to 32 characters of a-z, 0-9, - and _"}
		}
		cmd.Filter = command.BulkFilter{Category: f.Category, Tag: f.Tag, Status: f.Status}
		if f.Before != nil {
			cmd.Filter.Before = *f.Before
		}
	}
	res, err := v.Bulk.Handle(c.Request().Context(), cmd)
	if err != nil {
		return err
	}
	if res.Position > 0 {
		c.Response().Header().Set(HeaderPosition, strconv.FormatUint(uint64(res.Position), 10))
	}
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, fmt.Appendf(nil, `{"matched":%d,"changed":%d,"more":%t}`, res.Matched, res.Changed, res.More))
}
