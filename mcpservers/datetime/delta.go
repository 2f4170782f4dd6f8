package datetime

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// delta is a signed amount of time: calendar parts applied with time.AddDate on the local date,
// then an exact part applied with time.Add.
type delta struct {
	years, months, days int
	exact               time.Duration
}

func (d delta) addTo(t time.Time) time.Time {
	return t.AddDate(d.years, d.months, d.days).Add(d.exact)
}

// isoDuration matches ISO 8601 durations: [+-]PnYnMnWnDTnHnMnS, every part optional, fractions on
// seconds only. The input is upper-cased first.
var isoDuration = regexp.MustCompile(`^([+-])?P(?:(\d{1,9})Y)?(?:(\d{1,9})M)?(?:(\d{1,9})W)?(?:(\d{1,9})D)?` +
	`(T(?:(\d{1,9})H)?(?:(\d{1,9})M)?(?:(\d{1,9}(?:[.,]\d{1,9})?)S)?)?$`)

const (
	maxCalendarPart = 1_000_000       // years, months, weeks or days in one delta
	maxExactSeconds = 9_000_000_000.0 // ~285 years, below time.Duration's limit
)

// parseDelta parses a Go duration ("90m", "-2h30m") or an ISO 8601 duration ("P1DT2H", "-P1M").
func parseDelta(s string) (delta, error) {
	upper := strings.ToUpper(s)
	if strings.HasPrefix(strings.TrimLeft(upper, "+-"), "P") {
		return parseISODelta(upper)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return delta{}, fmt.Errorf(`%q is neither a Go duration such as "90m" or "-2h30m" `+
			`nor an ISO 8601 duration such as "P1D", "PT2H30M" or "-P1M"`, s)
	}
	return delta{exact: d}, nil
}

func parseISODelta(s string) (delta, error) {
	m := isoDuration.FindStringSubmatch(s)
	if m == nil {
		return delta{}, fmt.Errorf(`%q is not an ISO 8601 duration such as "P1D", "PT2H30M", "P2W" or "-P1M"`, s)
	}
	sign, years, months, weeks, days, tPart, hours, minutes, seconds := m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8], m[9]
	if years+months+weeks+days+tPart == "" || tPart == "T" {
		return delta{}, fmt.Errorf(`%q has no amount; write e.g. "P1D" or "PT30M"`, s)
	}

	var d delta
	var err error
	calendar := func(v string) int {
		if v == "" || err != nil {
			return 0
		}
		n, _ := strconv.Atoi(v) // at most 9 digits: cannot fail
		if n > maxCalendarPart {
			err = fmt.Errorf("%q is too large (at most %d of each unit)", s, maxCalendarPart)
		}
		return n
	}
	d.years = calendar(years)
	d.months = calendar(months)
	d.days = calendar(weeks)*7 + calendar(days)
	if err != nil {
		return delta{}, err
	}

	var secs float64
	for _, p := range []struct {
		v    string
		unit float64
	}{{hours, 3600}, {minutes, 60}, {strings.Replace(seconds, ",", ".", 1), 1}} {
		if p.v == "" {
			continue
		}
		n, _ := strconv.ParseFloat(p.v, 64) // the pattern admits only numbers
		secs += n * p.unit
	}
	if secs > maxExactSeconds {
		return delta{}, fmt.Errorf("%q is too large (hours, minutes and seconds must stay below about 285 years)", s)
	}
	d.exact = time.Duration(math.Round(secs * float64(time.Second)))

	if sign == "-" {
		d.years, d.months, d.days, d.exact = -d.years, -d.months, -d.days, -d.exact
	}
	return d, nil
}
