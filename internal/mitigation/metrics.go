package mitigation

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parry-soar/parry/internal/store"
)

// Metrics are the broker's Prometheus collectors.
type Metrics struct {
	fill        *prometheus.HistogramVec
	linger      *prometheus.HistogramVec
	posts       *prometheus.CounterVec
	rateLimited *prometheus.CounterVec
}

// NewMetrics creates the broker's collectors and registers them on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		fill: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "parry_mitigation_batch_fill_ratio", Help: "Items per mitigation POST over the connection's batch size.",
			Buckets: []float64{.1, .2, .3, .4, .5, .6, .7, .8, .9, 1},
		}, []string{"connection"}),
		linger: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "parry_mitigation_queue_wait_seconds", Help: "Time from an item's queueing to the POST that carried it (linger, quota, backoff).",
			Buckets: []float64{.05, .1, .25, .5, 1, 2, 3, 5, 10, 30, 60, 120, 300},
		}, []string{"connection"}),
		posts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parry_mitigation_posts_total", Help: "Mitigation POSTs the vendor accepted.",
		}, []string{"connection"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parry_vendor_rate_limited_total", Help: "Vendor 429 answers the mitigation broker received.",
		}, []string{"connection"}),
	}
	for _, c := range []prometheus.Collector{m.fill, m.linger, m.posts, m.rateLimited} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) observePost(conn string, n, size int, items []store.MitigationItem, now time.Time) {
	m.posts.WithLabelValues(conn).Inc()
	m.fill.WithLabelValues(conn).Observe(float64(n) / float64(size))
	for _, it := range items {
		m.linger.WithLabelValues(conn).Observe(now.Sub(it.EnqueuedAt).Seconds())
	}
}

// QueueSource counts the queues (*store.Store is one).
type QueueSource interface {
	MitigationQueues(ctx context.Context) ([]store.MitigationQueueStats, error)
}

// QueueCollector reports every connection's queue depth when scraped: parry_mitigation_queue_items{state}
// and the age of the oldest queued item.
type QueueCollector struct {
	Source QueueSource
	depth  *prometheus.Desc
	oldest *prometheus.Desc
}

// NewQueueCollector returns a collector over src.
func NewQueueCollector(src QueueSource) *QueueCollector {
	return &QueueCollector{Source: src,
		depth: prometheus.NewDesc("parry_mitigation_queue_items", "Mitigation items by connection, kind and state (queued: waiting for a batch; out: posted, no outcome yet).",
			[]string{"connection", "kind", "state"}, nil),
		oldest: prometheus.NewDesc("parry_mitigation_queue_oldest_seconds", "Age of the oldest queued mitigation item.",
			[]string{"connection", "kind"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *QueueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.depth
	ch <- c.oldest
}

// Collect implements prometheus.Collector.
func (c *QueueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	qs, err := c.Source.MitigationQueues(ctx)
	if err != nil {
		return
	}
	now := time.Now()
	for _, q := range qs {
		ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(q.Queued), q.Connection, q.Kind, "queued")
		ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(q.Out), q.Connection, q.Kind, "out")
		age := 0.0
		if q.Queued > 0 {
			age = now.Sub(q.OldestAt).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age, q.Connection, q.Kind)
	}
}
