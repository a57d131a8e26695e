package httpapi_test

import "github.com/eventnotify/notify/app/eventstore"

func eventstorePosition(p uint64) eventstore.Position { return eventstore.Position(p) }
