package devserver

import (
	"context"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// serverLogger routes the Temporal server's logs into an slog.Logger. The server logs
// hundreds of info lines at start-up, so it only passes records at or above min.
//
// Fatal is the important part: the server calls it where it cannot go on (a port it
// cannot bind, a listener that dies) and the stock logger then exits the process. In
// parry dev the server shares the process with the API and the worker, so Fatal here
// logs, passes the first message to fatal for StartTemporal or Failed to report, and
// ends only the goroutine that called it (runtime.Goexit runs its deferred calls; fx
// turns that into a start error).
//
// After Stop the logger goes quiet (see mute): the server leaves some goroutines
// behind (gRPC clients it never closes), and their reconnect warnings are noise.
type serverLogger struct {
	log   *slog.Logger
	min   slog.Level
	attrs []slog.Attr
	fatal *fatalSignal
	muted *gate // shared by every logger derived with With
}

// gate lets writes through until closed. Writers hold the read lock while writing, so
// once close returns nothing is being written and nothing will be: a test's log
// writer may be gone by then.
type gate struct {
	mu     sync.RWMutex
	closed bool
	floor  atomic.Int64 // a minimum level raised while stopping
}

// enter reports whether a write may proceed; if so the caller must call leave.
func (g *gate) enter() bool {
	g.mu.RLock()
	if g.closed {
		g.mu.RUnlock()
		return false
	}
	return true
}

func (g *gate) leave() { g.mu.RUnlock() }

func (g *gate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// raise drops records below level from now on.
func (g *gate) raise(level slog.Level) { g.floor.Store(int64(level)) }

func (g *gate) allows(level slog.Level) bool { return int64(level) >= g.floor.Load() }

func (g *gate) isClosed() bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.closed
}

var (
	_ log.Logger      = (*serverLogger)(nil)
	_ log.WithLogger  = (*serverLogger)(nil)
	_ log.SLogWrapper = (*serverLogger)(nil)
)

// fatalSignal carries the first fatal message out of whichever server goroutine hit it.
type fatalSignal struct {
	once sync.Once
	ch   chan string
}

func newFatalSignal() *fatalSignal { return &fatalSignal{ch: make(chan string, 1)} }

func (f *fatalSignal) raise(msg string) {
	f.once.Do(func() { f.ch <- msg })
}

func newServerLogger(l *slog.Logger, min slog.Level, fatal *fatalSignal) *serverLogger {
	return &serverLogger{log: l, min: min, fatal: fatal, muted: new(gate)}
}

// quiet passes only errors from now on. While the services stop one by one, the
// ones still running warn about every peer that went away first.
func (s *serverLogger) quiet() { s.muted.raise(slog.LevelError) }

// mute drops everything logged from now on, here and in every derived logger.
func (s *serverLogger) mute() { s.muted.close() }

// nexusHTTPWarning starts the warning the server logs on every start because its
// HTTP API (used for Nexus, which parry does not use) has no port.
const nexusHTTPWarning = "HTTP API port has not been set"

func (s *serverLogger) Debug(msg string, tags ...tag.Tag) { s.emit(slog.LevelDebug, msg, tags) }
func (s *serverLogger) Info(msg string, tags ...tag.Tag)  { s.emit(slog.LevelInfo, msg, tags) }
func (s *serverLogger) Warn(msg string, tags ...tag.Tag)  { s.emit(slog.LevelWarn, msg, tags) }
func (s *serverLogger) Error(msg string, tags ...tag.Tag) { s.emit(slog.LevelError, msg, tags) }

// DPanic only panics in the server's development builds; in ours it is an error.
func (s *serverLogger) DPanic(msg string, tags ...tag.Tag) { s.emit(slog.LevelError, msg, tags) }

// Panic keeps its contract (callers rely on not returning); the server recovers some
// of these itself, and StartTemporal recovers the ones raised while starting.
func (s *serverLogger) Panic(msg string, tags ...tag.Tag) {
	s.emit(slog.LevelError, msg, tags)
	panic(msg)
}

func (s *serverLogger) Fatal(msg string, tags ...tag.Tag) {
	s.emit(slog.LevelError, msg, tags)
	if s.fatal != nil && !s.muted.isClosed() {
		s.fatal.raise(fatalText(msg, tags))
	}
	runtime.Goexit()
}

func (s *serverLogger) With(tags ...tag.Tag) log.Logger {
	c := *s
	c.attrs = append(append([]slog.Attr(nil), s.attrs...), tagsToAttrs(tags)...)
	return &c
}

// SLog hands the server an slog.Logger for the few places that want one; it keeps the
// same minimum level so those places are not chattier than the rest.
func (s *serverLogger) SLog() *slog.Logger {
	return slog.New(minLevelHandler{next: s.log.Handler(), min: s.min, muted: s.muted}).With(attrsToArgs(s.attrs)...)
}

func (s *serverLogger) emit(level slog.Level, msg string, tags []tag.Tag) {
	ctx := context.Background()
	if level < s.min || !s.muted.allows(level) || !s.log.Enabled(ctx, level) || ignored(msg) || !s.muted.enter() {
		return
	}
	defer s.muted.leave()
	attrs := append(append(make([]slog.Attr, 0, len(s.attrs)+len(tags)), s.attrs...), tagsToAttrs(tags)...)
	s.log.LogAttrs(ctx, level, msg, attrs...)
}

func ignored(msg string) bool { return strings.HasPrefix(msg, nexusHTTPWarning) }

func tagsToAttrs(tags []tag.Tag) []slog.Attr {
	attrs := make([]slog.Attr, 0, len(tags))
	for _, t := range tags {
		attrs = append(attrs, slog.Any(t.Key(), tagValue(t)))
	}
	return attrs
}

// tagValue unwraps the server's zap-backed tags. Their own Value method encodes into a
// map and returns an arbitrary entry, which for errors may be "errorVerbose" instead
// of the error, so errors are taken straight from the field.
func tagValue(t tag.Tag) any {
	zt, ok := t.(interface{ Field() zap.Field })
	if !ok {
		return t.Value()
	}
	f := zt.Field()
	if f.Type == zapcore.ErrorType {
		if err, ok := f.Interface.(error); ok {
			return err
		}
	}
	enc := zapcore.NewMapObjectEncoder()
	f.AddTo(enc)
	if v, ok := enc.Fields[f.Key]; ok {
		return v
	}
	return t.Value()
}

func attrsToArgs(attrs []slog.Attr) []any {
	args := make([]any, len(attrs))
	for i, a := range attrs {
		args[i] = a
	}
	return args
}

// fatalText renders a fatal log call as one line for the error StartTemporal returns:
// the message and the error tag, which is what says what went wrong.
func fatalText(msg string, tags []tag.Tag) string {
	for _, t := range tags {
		if t.Key() != "error" {
			continue
		}
		if err, ok := tagValue(t).(error); ok && err != nil {
			return msg + ": " + err.Error()
		}
	}
	return msg
}

// minLevelHandler drops records below min, and all of them once muted, before they
// reach next.
type minLevelHandler struct {
	next  slog.Handler
	min   slog.Level
	muted *gate
}

func (h minLevelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.muted.allows(l) && !h.muted.isClosed() && h.next.Enabled(ctx, l)
}

func (h minLevelHandler) Handle(ctx context.Context, r slog.Record) error {
	if !h.muted.enter() {
		return nil
	}
	defer h.muted.leave()
	return h.next.Handle(ctx, r)
}

func (h minLevelHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return minLevelHandler{next: h.next.WithAttrs(attrs), min: h.min, muted: h.muted}
}

func (h minLevelHandler) WithGroup(name string) slog.Handler {
	return minLevelHandler{next: h.next.WithGroup(name), min: h.min, muted: h.muted}
}
