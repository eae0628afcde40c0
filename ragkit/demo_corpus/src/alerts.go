// Package alerts turns Helios X2 error codes into notifications for the installer.
package alerts

import (
	"fmt"
	"time"
)

// Severity of an alert.
type Severity int

const (
	Info Severity = iota
	Warning
	Critical
)

// Alert is one notification sent to the installer.
type Alert struct {
	Code     int
	Severity Severity
	Message  string
	At       time.Time
}

// Classify maps an inverter error code to the severity of its alert.
// Insulation faults (E01) are critical because they can be a shock hazard.
func Classify(code int) Severity {
	switch code {
	case 0:
		return Info
	case 1:
		return Critical
	case 4, 7, 12:
		return Warning
	default:
		return Critical
	}
}

// Throttle suppresses repeats of the same code within the window.
type Throttle struct {
	Window time.Duration
	last   map[int]time.Time
}

// Allow reports whether an alert for code may be sent at time now.
func (t *Throttle) Allow(code int, now time.Time) bool {
	if t.last == nil {
		t.last = map[int]time.Time{}
	}
	if prev, ok := t.last[code]; ok && now.Sub(prev) < t.Window {
		return false
	}
	t.last[code] = now
	return true
}

// Format renders an alert for an SMS message.
func (a Alert) Format() string {
	return fmt.Sprintf("[%s] Helios E%02d: %s", a.At.Format(time.RFC3339), a.Code, a.Message)
}
