package httpapi

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/app/query"
	"github.com/eventnotify/notify/domain/notification"
	"github.com/eventnotify/notify/infra/auth"
	"github.com/eventnotify/notify/projections/inbox"
)

// v1 serves the versioned routes built so far: one notification, its history, and counts.
type v1 struct{ Deps }

// load reads a notification for the caller: a recipient token sees only its own (anything
// else is the same 404 as an unknown id).
func (v v1) load(c echo.Context) (*notification.Notification, []query.HistoryEntry, error) {
	if v.Notifications == nil {
		return nil, nil, echo.NewHTTPError(http.StatusNotFound, "notification queries are not available")
	}
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
	return c.JSON(http.StatusOK, inbox.ViewOf(n, eventstore.Position(history[0].Position)))
}

func (v v1) history(c echo.Context) error {
	_, history, err := v.load(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"events": history})
}

// count answers {"total","unread"} for a recipient.
func (v v1) count(c echo.Context) error {
	if err := seed(v).awaitPosition(c); err != nil {
		return err
	}
	counts, err := v.Inbox.Count(c.Request().Context(), param(c, "recipientId"))
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, fmt.Appendf(nil, `{"total":%d,"unread":%d}`, counts.Total, counts.Unread))
}
