package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/eventnotify/notify/app/command"
	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/domain/notification"
	"github.com/eventnotify/notify/projections/inbox"
)

// HeaderPosition carries the log position of a command's effect.
const HeaderPosition = "Notify-Position"

// seed serves the routes of the original Node service with its bodies and success shapes.
type seed struct{ deps }

type sendBody struct {
	RecipientID string `json:"recipientId"`
	Content     string `json:"content"`
	Category    string `json:"category"`
}

// The commands as a request carries them; the seed and /v1 routes differ in their answers,
// and the /v1 send takes the optional fields of issue #13 (sendBodyV1), which the seed's
// ignores as it ignores every unknown field.
type runCommand func(deps, echo.Context) (command.Result, error)

func runSend(d deps, c echo.Context) (command.Result, error) {
	var b sendBody
	if err := decodeJSON(c, MaxBody, &b); err != nil {
		return command.Result{}, err
	}
	return d.Send.Handle(c.Request().Context(), command.SendNotification{
		Meta: commandMeta(c), RecipientID: b.RecipientID, Content: b.Content, Category: b.Category,
	})
}

func runSee(d deps, c echo.Context) (command.Result, error) {
	return d.See.Handle(c.Request().Context(), command.SeeNotification{Meta: commandMeta(c), NotificationID: param(c, "id")})
}

func runArchive(d deps, c echo.Context) (command.Result, error) {
	return d.Archive.Handle(c.Request().Context(), command.ArchiveNotification{Meta: commandMeta(c), NotificationID: param(c, "id")})
}

func runUnarchive(d deps, c echo.Context) (command.Result, error) {
	return d.Unarchive.Handle(c.Request().Context(), command.UnarchiveNotification{Meta: commandMeta(c), NotificationID: param(c, "id")})
}

func runRead(d deps, c echo.Context) (command.Result, error) {
	return d.Read.Handle(c.Request().Context(), command.ReadNotification{Meta: commandMeta(c), NotificationID: param(c, "id")})
}

func runUnread(d deps, c echo.Context) (command.Result, error) {
	return d.Unread.Handle(c.Request().Context(), command.UnreadNotification{Meta: commandMeta(c), NotificationID: param(c, "id")})
}

func runCancel(d deps, c echo.Context) (command.Result, error) {
	return d.Cancel.Handle(c.Request().Context(), command.CancelNotification{Meta: commandMeta(c), NotificationID: param(c, "id")})
}

func (s seed) send(c echo.Context) error {
	res, err := runSend(s.deps, c)
	if err != nil {
		return err
	}
	// The seed's shape: the view cut back after createdAt (a retried send of a notification
	// seen, archived or sent with #13's fields answers what the seed answered).
	view, err := json.Marshal(inbox.ViewOf(res.Notification, res.Position))
	if err != nil {
		return err
	}
	body := append(append([]byte(`{"notification":`), inbox.SeedJSON(view)...), '}')
	setPosition(c, res)
	return c.Blob(http.StatusCreated, echo.MIMEApplicationJSON, body)
}

// change answers a PATCH as the seed did: 200 with an empty body.
func (s seed) change(run runCommand) echo.HandlerFunc {
	return func(c echo.Context) error {
		res, err := run(s.deps, c)
		if err != nil {
			return err
		}
		setPosition(c, res)
		return c.NoContent(http.StatusOK)
	}
}

// param returns a path parameter decoded: Echo hands them over as sent, so an encoded
// recipient such as user%40example.com must be unescaped before it is checked.
func param(c echo.Context, name string) string {
	raw := c.Param(name)
	if v, err := url.PathUnescape(raw); err == nil {
		return v
	}
	return raw
}

func setPosition(c echo.Context, res command.Result) {
	c.Response().Header().Set(HeaderPosition, strconv.FormatUint(uint64(res.Position), 10))
}

// HeaderMinPosition asks a query to reflect at least this log position (a command's
// Notify-Position): read-your-writes.
const HeaderMinPosition = "Notify-Min-Position"

// awaitPosition waits, bounded, until the read model reflects the position the client passed
// in Notify-Min-Position (or ?minPosition=).
func (s seed) awaitPosition(c echo.Context) error {
	raw, field := c.Request().Header.Get(HeaderMinPosition), HeaderMinPosition
	if raw == "" {
		raw, field = c.QueryParam("minPosition"), "minPosition"
	}
	if raw == "" || s.Status == nil {
		return nil
	}
	p, err := strconv.ParseUint(raw, 10, 64)
	if err != nil {
		return &notification.ValidationError{Field: field, Rule: "must be a log position (a non-negative integer, as in Notify-Position)"}
	}
	if err := s.notAhead(c, field, eventstore.Position(p)); err != nil {
		return err
	}
	return s.Status.WaitFor(c.Request().Context(), eventstore.Position(p))
}

// notAhead refuses a position the log has not reached: it cannot come from this service's
// log (a wiped or another store), and waiting for it would never end well.
func (d deps) notAhead(c echo.Context, field string, p eventstore.Position) error {
	if d.Status == nil {
		return nil
	}
	head, err := d.Status.Head(c.Request().Context())
	if err != nil {
		return err
	}
	if p > head {
		return &notification.ValidationError{Field: field, Rule: fmt.Sprintf("position %d is ahead of the log head %d: it was not given by this service's log (a wiped or another store); leave it out", p, head)}
	}
	return nil
}

func (s seed) count(c echo.Context) error {
	if err := s.awaitPosition(c); err != nil {
		return err
	}
	counts, err := s.Inbox.Count(c.Request().Context(), param(c, "recipientId"))
	if err != nil {
		return err
	}
	b := append(strconv.AppendInt([]byte(`{"count":`), int64(counts.Total), 10), '}')
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, b)
}

func (s seed) list(c echo.Context) error {
	if err := s.awaitPosition(c); err != nil {
		return err
	}
	docs, err := s.Inbox.List(c.Request().Context(), param(c, "recipientId"), 0)
	if err != nil {
		return err
	}
	size := 20
	for _, d := range docs {
		size += len(d) + 1
	}
	b := make([]byte, 0, size)
	b = append(b, `{"notifications":[`...)
	for i, d := range docs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, d...)
	}
	b = append(b, "]}"...)
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, b)
}
