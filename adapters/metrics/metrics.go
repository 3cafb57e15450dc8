// Package metrics exposes evpush's Prometheus metrics: HTTP traffic, push
// deliveries by outcome and push service, delivery latencies, queue depth
// and subscription counts.
//
// Every label takes values from a closed set: a label fed by what clients
// send (a request method, an endpoint's host) would let them grow /metrics,
// and the monitoring behind it, without end.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/evpower/evpush/domain"
	"github.com/evpower/evpush/ports"
)

// Counter sources, read at scrape time so the numbers are never stale.
type (
	// CountFunc returns counts by label value (job state, user type).
	CountFunc func(ctx context.Context) (map[string]int, error)
)

// Metrics records and serves the service's metrics.
type Metrics struct {
	reg *prometheus.Registry

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	pushes       *prometheus.CounterVec
	pushDuration *prometheus.HistogramVec
	commitToPush prometheus.Histogram
	noOwner      *prometheus.CounterVec
	skipped      *prometheus.CounterVec
}

var _ ports.Metrics = (*Metrics)(nil)

// Sources are the database counts exported as gauges.
type Sources struct {
	JobsByState         CountFunc
	SubscriptionsByType CountFunc
	// SubscriptionsByKey lists the VAPID keys with the subscriptions each
	// holds.
	SubscriptionsByKey func(ctx context.Context) ([]domain.KeyUsage, error)
	Logger             *slog.Logger
}

// New registers every metric on a fresh registry.
func New(src Sources) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "evpush_http_requests_total",
			Help: "HTTP requests by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "evpush_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "evpush_push_deliveries_total",
			Help: "Push requests by outcome (delivered, gone, retry, rate_limited, rejected; withheld: not sent, the subscription's VAPID key does not sign) and push service (fcm, mozilla, apple, wns, other).",
		}, []string{"outcome", "push_service"}),
		pushDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "evpush_push_request_duration_seconds",
			Help:    "Round trip to the push service, by push service.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"push_service"}),
		commitToPush: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "evpush_commit_to_delivery_seconds",
			Help:    "From the charging event (its commit) to the push service accepting the message.",
			Buckets: []float64{.0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}),
		noOwner: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "evpush_events_without_owner_total",
			Help: "Charging events whose job named no owner_id, so no station owner was notified, by kind.",
		}, []string{"kind"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "evpush_notifications_skipped_by_preference_total",
			Help: "Notifications not sent to a device because its user switched them off, by notification kind (\"category\" for every category of user notifications).",
		}, []string{"kind"}),
	}
	// Known label values start at zero, so a rate() alert works from the first scrape.
	for _, k := range []domain.EventKind{domain.EventChargingStarted, domain.EventChargingCompleted} {
		m.noOwner.WithLabelValues(string(k))
	}
	for _, role := range []domain.UserType{domain.UserTypeClient, domain.UserTypeOwner} {
		for _, k := range domain.KindsFor(role) {
			m.skipped.WithLabelValues(string(k))
		}
	}
	m.skipped.WithLabelValues(string(domain.PrefCategory))
	reg.MustRegister(m.httpRequests, m.httpDuration, m.pushes, m.pushDuration, m.commitToPush, m.noOwner, m.skipped,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		gauges(prometheus.NewDesc("evpush_queue_jobs", "River jobs by state (queue depth).", []string{"state"}, nil),
			src.JobsByState, countSamples, src.Logger),
		gauges(prometheus.NewDesc("evpush_subscriptions", "Push subscriptions by user type.", []string{"user_type"}, nil),
			src.SubscriptionsByType, countSamples, src.Logger),
		gauges(keyDesc, src.SubscriptionsByKey, keySamples, src.Logger))
	return m
}

// Handler serves the text exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// ObserveHTTP records one HTTP request. route must be a route pattern or a
// fixed placeholder, never the raw path; the method is bounded here.
func (m *Metrics) ObserveHTTP(route, method string, status int, d time.Duration) {
	method = methodLabel(method)
	m.httpRequests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.httpDuration.WithLabelValues(route, method).Observe(d.Seconds())
}

// methodLabel keeps the standard methods and folds every other token into
// "other": Go's server accepts any token as a method, so a client could
// otherwise mint a series per request.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return method
	}
	return "other"
}

// ObservePush implements ports.Metrics. A withheld push made no request,
// so it has no round trip to observe.
func (m *Metrics) ObservePush(service domain.PushService, outcome domain.Outcome, roundTrip time.Duration) {
	m.pushes.WithLabelValues(outcome.String(), service.String()).Inc()
	if outcome != domain.OutcomeWithheld {
		m.pushDuration.WithLabelValues(service.String()).Observe(roundTrip.Seconds())
	}
}

// ObserveCommitToDelivery implements ports.Metrics.
func (m *Metrics) ObserveCommitToDelivery(d time.Duration) {
	m.commitToPush.Observe(d.Seconds())
}

// CountEventWithoutOwner implements ports.Metrics.
func (m *Metrics) CountEventWithoutOwner(kind domain.EventKind) {
	m.noOwner.WithLabelValues(string(kind)).Inc()
}

// CountSkippedByPreference implements ports.Metrics. Only kinds are
// labelled by name: they are a closed set, while categories are named by
// whoever inserts jobs, so they share one label value.
func (m *Metrics) CountSkippedByPreference(pref domain.Pref) {
	label := string(pref.Class)
	if pref.Class == domain.PrefKind {
		label = pref.Name
	}
	m.skipped.WithLabelValues(label).Inc()
}

// sample is one gauge value with its label values, in the desc's order.
type sample struct {
	value  float64
	labels []string
}

// scrapeCollector exports gauges read (from the database) at scrape time,
// so they are never stale. Without read (no source given) it exports none.
type scrapeCollector struct {
	desc *prometheus.Desc
	read func(ctx context.Context) ([]sample, error)
	log  *slog.Logger
}

// gauges is a scrapeCollector over f, whose result samples turns into
// gauges; a nil f exports none.
func gauges[T any](desc *prometheus.Desc, f func(context.Context) (T, error), samples func(T) []sample,
	log *slog.Logger) *scrapeCollector {
	c := &scrapeCollector{desc: desc, log: log}
	if f != nil {
		c.read = func(ctx context.Context) ([]sample, error) {
			v, err := f(ctx)
			return samples(v), err
		}
	}
	return c
}

func (c *scrapeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	if c.read == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	samples, err := c.read(ctx)
	if err != nil {
		if c.log != nil {
			c.log.Warn("metrics: counting failed", "metric", c.desc.String(), "error", err)
		}
		return
	}
	for _, s := range samples {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, s.value, s.labels...)
	}
}

// countSamples is a gauge per label value.
func countSamples(m map[string]int) []sample {
	out := make([]sample, 0, len(m))
	for label, n := range m {
		out = append(out, sample{value: float64(n), labels: []string{label}})
	}
	return out
}

// keyDesc is the subscriptions-per-key gauge. Its labels are the key's id
// and state, never the key: there are a handful of keys at any time (one
// current, a few retiring, each deleted by the cleanup), so the series stay
// few.
var keyDesc = prometheus.NewDesc("evpush_vapid_key_subscriptions",
	"Push subscriptions per VAPID key, by key id and state (current, retiring, revoked): a retiring key's count falls as devices move to the current key.",
	[]string{"key_id", "state"}, nil)

// keySamples is a gauge per key: its subscriptions.
func keySamples(usage []domain.KeyUsage) []sample {
	out := make([]sample, 0, len(usage))
	for _, u := range usage {
		state := string(u.Key.State)
		if u.Key.Revoked() {
			state = "revoked"
		}
		out = append(out, sample{value: float64(u.Subscriptions), labels: []string{strconv.Itoa(u.Key.ID), state}})
	}
	return out
}
