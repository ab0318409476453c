package events

import (
	"fmt"
	"time"

	"github.com/cloudevents/sdk-go/v2/types"
)

const timeLayout = time.RFC3339Nano

type timeAttr struct{ time.Time }

// parse reads an RFC 3339 timestamp, the form the CloudEvents spec requires for time.
func (t *timeAttr) parse(s string) error {
	ts, err := types.ParseTimestamp(s)
	if err != nil || ts == nil { // ParseTimestamp returns nil, nil for ""
		return fmt.Errorf("time %s is not RFC 3339", quote(s))
	}
	t.Time = ts.Time
	return nil
}
