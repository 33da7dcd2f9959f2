// Package tracing sets up OpenTelemetry traces for a parry process: off unless otel.endpoint names an OTLP
// collector (gRPC), then one trace per run — the dispatch that starts it, the workflow, each step (Temporal's
// own OpenTelemetry interceptor, not a home-made one) and each vendor request with its quota wait
// (internal/cecp). Nothing here is global: the provider is passed to what needs it.
package tracing

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"

	"github.com/parry-soar/parry/internal/config"
	"github.com/parry-soar/parry/internal/version"
)

// Tracing is a process's tracer provider and how to flush it at exit.
type Tracing struct {
	Provider trace.TracerProvider
	// On says traces are exported (otel.endpoint is set).
	On       bool
	shutdown func(context.Context) error
}

// Off is tracing that records nothing and costs nothing.
func Off() Tracing {
	return Tracing{Provider: noop.NewTracerProvider(), shutdown: func(context.Context) error { return nil }}
}

// Setup returns the process's tracing from the configuration: Off without otel.endpoint, else an OTLP/gRPC
// exporter batching the spans of service (parry-server, parry-worker, parry-dev), sampled by
// otel.sample_ratio (a run's spans follow the sampling of its root).
func Setup(ctx context.Context, cfg config.OTelConfig, service string) (Tracing, error) {
	if cfg.Endpoint == "" {
		return Off(), nil
	}
	if cfg.SampleRatio < 0 || cfg.SampleRatio > 1 {
		return Tracing{}, fmt.Errorf("otel.sample_ratio %g: give a fraction from 0 to 1", cfg.SampleRatio)
	}
	opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(cfg.Endpoint)}
	if cfg.Insecure {
		opts = append(opts, otlptracegrpc.WithInsecure())
	}
	exp, err := otlptracegrpc.New(ctx, opts...)
	if err != nil {
		return Tracing{}, fmt.Errorf("setting up the OTLP trace exporter for %s (otel.endpoint): %w", cfg.Endpoint, err)
	}
	name := cfg.ServiceName
	if name == "" {
		name = service
	}
	res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName(name), semconv.ServiceVersion(version.Get().Version))
	ratio := cfg.SampleRatio
	if ratio == 0 {
		ratio = 1
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))))
	return Tracing{Provider: tp, On: true, shutdown: func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return tp.Shutdown(ctx)
	}}, nil
}

// Shutdown flushes the spans still buffered (at most 5 s).
func (t Tracing) Shutdown(ctx context.Context) error {
	if t.shutdown == nil {
		return nil
	}
	return t.shutdown(ctx)
}

// Tracer is parry's tracer for a part of it ("parry/cecp", "parry/dispatch").
func (t Tracing) Tracer(name string) trace.Tracer {
	if t.Provider == nil {
		return noop.NewTracerProvider().Tracer(name)
	}
	return t.Provider.Tracer(name)
}

// Interceptors are the Temporal client interceptors of t: the SDK's OpenTelemetry interceptor, which starts a
// span for every workflow start, workflow run and activity and carries the trace across them in headers;
// none when tracing is off.
func (t Tracing) Interceptors() ([]interceptor.ClientInterceptor, error) {
	if !t.On {
		return nil, nil
	}
	ti, err := temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{Tracer: t.Tracer("parry/temporal"),
		TextMapPropagator: propagation.TraceContext{}})
	if err != nil {
		return nil, fmt.Errorf("setting up Temporal's tracing interceptor: %w", err)
	}
	return []interceptor.ClientInterceptor{ti}, nil
}
