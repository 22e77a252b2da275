package metrics

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// PoolStater is what the pool collector needs from a pgx pool.
type PoolStater interface {
	Stat() *pgxpool.Stat
}

// PoolCollector exports pgxpool statistics, read at scrape time.
type PoolCollector struct {
	pool    PoolStater
	metrics []poolMetric
}

type poolMetric struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(*pgxpool.Stat) float64
}

// NewPoolCollector returns a collector for pool's statistics.
func NewPoolCollector(pool PoolStater) *PoolCollector {
	gauge := func(name, help string, v func(*pgxpool.Stat) float64) poolMetric {
		return poolMetric{prometheus.NewDesc("pgxpool_"+name, help, nil, nil), prometheus.GaugeValue, v}
	}
	counter := func(name, help string, v func(*pgxpool.Stat) float64) poolMetric {
		return poolMetric{prometheus.NewDesc("pgxpool_"+name, help, nil, nil), prometheus.CounterValue, v}
	}
	return &PoolCollector{pool: pool, metrics: []poolMetric{
		gauge("acquired_connections", "Connections currently in use.", func(s *pgxpool.Stat) float64 { return float64(s.AcquiredConns()) }),
		gauge("idle_connections", "Connections currently idle.", func(s *pgxpool.Stat) float64 { return float64(s.IdleConns()) }),
		gauge("constructing_connections", "Connections being established.", func(s *pgxpool.Stat) float64 { return float64(s.ConstructingConns()) }),
		gauge("total_connections", "Connections open or being established.", func(s *pgxpool.Stat) float64 { return float64(s.TotalConns()) }),
		gauge("max_connections", "Maximum size of the pool.", func(s *pgxpool.Stat) float64 { return float64(s.MaxConns()) }),
		counter("acquires_total", "Successful connection acquisitions.", func(s *pgxpool.Stat) float64 { return float64(s.AcquireCount()) }),
		counter("acquire_duration_seconds_total", "Time spent acquiring connections.", func(s *pgxpool.Stat) float64 { return s.AcquireDuration().Seconds() }),
		counter("canceled_acquires_total", "Acquisitions canceled by their context.", func(s *pgxpool.Stat) float64 { return float64(s.CanceledAcquireCount()) }),
		counter("empty_acquires_total", "Acquisitions that had to wait for a connection.", func(s *pgxpool.Stat) float64 { return float64(s.EmptyAcquireCount()) }),
		counter("new_connections_total", "Connections opened.", func(s *pgxpool.Stat) float64 { return float64(s.NewConnsCount()) }),
		counter("max_lifetime_destroys_total", "Connections closed for exceeding their maximum lifetime.", func(s *pgxpool.Stat) float64 { return float64(s.MaxLifetimeDestroyCount()) }),
		counter("max_idle_destroys_total", "Connections closed for exceeding their maximum idle time.", func(s *pgxpool.Stat) float64 { return float64(s.MaxIdleDestroyCount()) }),
	}}
}

// Describe implements prometheus.Collector.
func (c *PoolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.metrics {
		ch <- m.desc
	}
}

// Collect implements prometheus.Collector.
func (c *PoolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	for _, m := range c.metrics {
		ch <- prometheus.MustNewConstMetric(m.desc, m.kind, m.value(s))
	}
}
