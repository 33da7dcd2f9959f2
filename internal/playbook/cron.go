package playbook

import (
	"fmt"
	"strconv"
	"strings"
	// Time zone names are checked against the embedded database, so that lint gives the same answer on every
	// machine whatever zoneinfo it has.
	_ "time/tzdata"
)

// cronField is one field of a five-field cron expression.
type cronField struct {
	name     string
	lo, hi   int
	names    []string // names of the values from lo (months, days of the week)
	examples string
}

var cronFields = []cronField{
	{name: "minute", lo: 0, hi: 59, examples: "0-59"},
	{name: "hour", lo: 0, hi: 23, examples: "0-23"},
	{name: "day of the month", lo: 1, hi: 31, examples: "1-31"},
	{name: "month", lo: 1, hi: 12, names: []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}, examples: "1-12 or jan-dec"},
	{name: "day of the week", lo: 0, hi: 7, names: []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}, examples: "0-7 (0 and 7 are Sunday) or sun-sat"},
}

// cronAliases are the shorthands Temporal's cron accepts besides five fields.
var cronAliases = []string{"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}

// CheckCron returns what is wrong with a cron expression ("" when it is good): five fields (minute, hour,
// day of the month, month, day of the week) of *, values, ranges a-b, steps /n and lists, or one of the
// @daily-style shorthands. Temporal Schedules run it; checking it here makes a typo a lint error instead of a
// failed enable.
func CheckCron(s string) string {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "@") {
		if contains(cronAliases, strings.ToLower(s)) {
			return ""
		}
		return fmt.Sprintf("unknown cron shorthand %q: use one of %s, or five fields", s, strings.Join(cronAliases, ", "))
	}
	fields := strings.Fields(s)
	if len(fields) != len(cronFields) {
		return fmt.Sprintf("cron %q has %d fields, want 5: minute hour day-of-month month day-of-week (\"0 6 * * 1-5\" is 06:00 on weekdays)", s, len(fields))
	}
	for i, f := range fields {
		if msg := checkCronField(f, cronFields[i]); msg != "" {
			return fmt.Sprintf("cron %q: %s", s, msg)
		}
	}
	return ""
}

func checkCronField(f string, cf cronField) string {
	for _, item := range strings.Split(f, ",") {
		if item == "" {
			return fmt.Sprintf("the %s field %q has an empty item", cf.name, f)
		}
		rng, step, hasStep := strings.Cut(item, "/")
		if hasStep {
			n, err := strconv.Atoi(step)
			if err != nil || n < 1 || n > cf.hi {
				return fmt.Sprintf("the %s field %q has a bad step %q (a whole number from 1)", cf.name, f, step)
			}
		}
		if rng == "*" {
			continue
		}
		lo, hi, isRange := strings.Cut(rng, "-")
		a, ok := cronValue(lo, cf)
		if !ok {
			return fmt.Sprintf("the %s field %q has %q, not a value in %s", cf.name, f, lo, cf.examples)
		}
		if isRange {
			b, ok := cronValue(hi, cf)
			if !ok {
				return fmt.Sprintf("the %s field %q has %q, not a value in %s", cf.name, f, hi, cf.examples)
			}
			if b < a {
				return fmt.Sprintf("the %s field %q has the range %s, which runs backwards", cf.name, f, rng)
			}
		}
	}
	return ""
}

func cronValue(s string, cf cronField) (int, bool) {
	if n, err := strconv.Atoi(s); err == nil {
		return n, n >= cf.lo && n <= cf.hi
	}
	for i, name := range cf.names {
		if strings.EqualFold(s, name) {
			return i + cf.lo, true
		}
	}
	return 0, false
}
