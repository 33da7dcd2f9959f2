package cecpsim

import (
	"net/http"
	"sort"
	"time"
)

const (
	securityEventsReach   = 72 * time.Hour
	quarantineEventsReach = 7 * 24 * time.Hour
	eventsDefaultWindow   = 5 * time.Minute
	quarantineDefault     = 24 * time.Hour
	eventsMaxLimit        = 500
)

var (
	eventServices = []string{"exchange", "sharepoint", "onedrive", "dropbox", "box", "googledrive", "gmail", "teams",
		"exchangeserver", "salesforce_sandbox", "salesforce_production", "teams_chat"}
	eventKinds = []string{"securityrisk", "virtualanalyzer", "ransomware", "dlp"}
)

// eventWindow reads start/end for a log endpoint whose data is reachable back to now-reach. An explicit start
// before that is refused (a poller must notice it lost data); a start derived from end is cut to the reach.
func eventWindow(p params, now time.Time, def, reach time.Duration, reachText string) (time.Time, time.Time, error) {
	start, end, err := p.window(now, def)
	if err != nil {
		return start, end, err
	}
	oldest := now.Add(-reach)
	if start.Before(oldest) {
		if p.has("start") {
			return start, end, errorf("start %s is more than %s ago: only the last %s can be queried", fmtTime(start), reachText, reachText)
		}
		start = oldest
		if end.Before(start) {
			return start, end, errorf("end %s is more than %s ago: only the last %s can be queried", fmtTime(end), reachText, reachText)
		}
	}
	return start, end, nil
}

// securityEvents serves GET /v1/siem/security_events.
func (s *Server) securityEvents(t *tenant, r *http.Request, now time.Time) *response {
	p, err := readParams(r, "service", "event", "start", "end", "limit", "skiptoken")
	if err != nil {
		return s.badRequest("%v", err)
	}
	service, err := p.oneOf("service", eventServices, true)
	if err != nil {
		return s.badRequest("%v", err)
	}
	event, err := p.oneOf("event", eventKinds, true)
	if err != nil {
		return s.badRequest("%v", err)
	}
	start, end, err := eventWindow(p, now, eventsDefaultWindow, securityEventsReach, "72 hours")
	if err != nil {
		return s.badRequest("%v", err)
	}
	limit, err := p.limit(eventsMaxLimit, eventsMaxLimit)
	if err != nil {
		return s.badRequest("%v", err)
	}
	var pms int64 = -1 << 62
	var pid string
	if tok := p.get("skiptoken"); tok != "" {
		if pms, pid, err = decodeSkip(tok); err != nil {
			return s.badRequest("%v", err)
		}
	}
	resp := securityEventsResponse{CurrentLink: currentLink(r), TraceID: s.traceID(), SecurityEvents: []securityEventItem{}}
	from := sort.Search(len(t.secEvents), func(i int) bool { return !t.secEvents[i].generated.Before(start) })
	var last *secEvent
	for i := from; i < len(t.secEvents) && !t.secEvents[i].generated.After(end); i++ {
		e := t.secEvents[i]
		if e.service != service || e.event != event || !after(e.generated.UnixMilli(), e.item.LogItemID, pms, pid) {
			continue
		}
		if len(resp.SecurityEvents) == limit {
			resp.NextLink = nextLink(r, encodeSkip(last.generated.UnixMilli(), last.item.LogItemID))
			break
		}
		resp.SecurityEvents = append(resp.SecurityEvents, e.item)
		last = e
	}
	if last != nil {
		resp.LastLogItemGenerationTime = fmtTime(last.generated)
	}
	return s.json(http.StatusOK, resp)
}

// quarantineEvents serves GET /v1/siem/quarantine_events.
func (s *Server) quarantineEvents(t *tenant, r *http.Request, now time.Time) *response {
	p, err := readParams(r, "service", "start", "end", "limit", "skiptoken")
	if err != nil {
		return s.badRequest("%v", err)
	}
	if _, err := p.oneOf("service", []string{"exchange"}, true); err != nil {
		return s.badRequest("%v", err)
	}
	start, end, err := eventWindow(p, now, quarantineDefault, quarantineEventsReach, "7 days")
	if err != nil {
		return s.badRequest("%v", err)
	}
	limit, err := p.limit(eventsMaxLimit, eventsMaxLimit)
	if err != nil {
		return s.badRequest("%v", err)
	}
	var pms int64 = -1 << 62
	var pid string
	if tok := p.get("skiptoken"); tok != "" {
		if pms, pid, err = decodeSkip(tok); err != nil {
			return s.badRequest("%v", err)
		}
	}
	resp := quarantineEventsResponse{CurrentLink: currentLink(r), TraceID: s.traceID(), QuarantineEvents: []quarantineEventItem{}}
	from := sort.Search(len(t.qEvents), func(i int) bool { return !t.qEvents[i].detection.Before(start) })
	var last *quarantineEv
	for i := from; i < len(t.qEvents) && !t.qEvents[i].detection.After(end); i++ {
		q := t.qEvents[i]
		if !after(q.detection.UnixMilli(), q.logID, pms, pid) {
			continue
		}
		if len(resp.QuarantineEvents) == limit {
			resp.NextLink = nextLink(r, encodeSkip(last.detection.UnixMilli(), last.logID))
			break
		}
		resp.QuarantineEvents = append(resp.QuarantineEvents, q.item())
		last = q
	}
	if last != nil {
		resp.LastLogItemGenerationTime = fmtTime(last.detection)
	}
	return s.json(http.StatusOK, resp)
}
