package dispatch

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the dispatcher's Prometheus collectors.
type Metrics struct {
	dispatched prometheus.Counter
	opened     prometheus.Counter
	attached   prometheus.Counter
	evalErrors prometheus.Counter
	failures   prometheus.Counter
	lag        prometheus.Histogram
}

// NewMetrics creates the dispatcher's collectors and registers them (on the API's registry, so /metrics shows
// them).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		dispatched: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parry_alerts_dispatched_total", Help: "Alerts the dispatcher matched against the enabled playbooks.",
		}),
		opened: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parry_incidents_opened_total", Help: "Incidents opened (each starts one run).",
		}),
		attached: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parry_incident_alerts_attached_total", Help: "Alerts that joined an incident that was open already.",
		}),
		evalErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parry_alert_trigger_errors_total", Help: "Alerts on which a playbook's trigger or dedup key failed to evaluate.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parry_dispatch_failures_total", Help: "Dispatch batches rolled back (Temporal or PostgreSQL unreachable); their alerts stay pending.",
		}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "parry_dispatch_lag_seconds", Help: "Time from an alert's receipt to its dispatch.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900},
		}),
	}
	for _, c := range []prometheus.Collector{m.dispatched, m.opened, m.attached, m.evalErrors, m.failures, m.lag} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
