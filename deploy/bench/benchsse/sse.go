// Package benchsse reads the service's live stream (SSE) for the load tools.
package benchsse

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
)

// Read opens the stream at url and reads it until ctx ends or the server closes it. opened is
// called once, when the stream's opening frame has arrived (or Read fails before it); sent is
// called with the data line of every notification.sent, as soon as it is read.
func Read(ctx context.Context, c *http.Client, url string, opened func(), sent func(data []byte) error) error {
	once := false
	open := func() {
		if !once {
			once = true
			opened()
		}
	}
	defer open()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s = %d", url, res.StatusCode)
	}
	sc := bufio.NewScanner(res.Body)
	var event string
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case bytes.HasPrefix(line, []byte("event: ")):
			event = string(line[7:])
		case bytes.HasPrefix(line, []byte("data: ")) && event == "notification.sent":
			if err := sent(line[6:]); err != nil {
				return err
			}
		case len(line) == 0:
			open() // the first frame is the opening counts: subscribed
			event = ""
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
