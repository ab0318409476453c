package telemetry_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/flowbridge/flowbridge/internal/config"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/internal/telemetry"
	"github.com/flowbridge/flowbridge/internal/testenv"
)

// recorder is a tracer provider of the test's own that keeps every span.
func recorder(t *testing.T) (*sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, rec
}

// remote is a sampled span context from outside.
func remote(t *testing.T) trace.SpanContext {
	var tid trace.TraceID
	var sid trace.SpanID
	_, _ = rand.Read(tid[:])
	_, _ = rand.Read(sid[:])
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true})
	require.True(t, sc.IsValid())
	return sc
}

func traceparent(sc trace.SpanContext) string {
	return fmt.Sprintf("00-%s-%s-%s", sc.TraceID(), sc.SpanID(), sc.TraceFlags())
}

func event(t *testing.T, typ string, data any) events.Event {
	ev := cloudevents.New()
	ev.SetID(testenv.ID("evt-"))
	ev.SetType(typ)
	ev.SetSource("/tests")
	ev.SetTime(time.Now())
	require.NoError(t, ev.SetData(cloudevents.ApplicationJSON, data))
	return ev
}

func attr(sp sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range sp.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

func TestSetupOffWithoutExporter(t *testing.T) {
	tests := []struct {
		name string
		cfg  config.Tracing
	}{
		{name: "nothing set"},
		{name: "none", cfg: config.Tracing{Exporter: config.TracesExporterNone, Endpoint: "http://127.0.0.1:1"}},
		{name: "SDK disabled", cfg: config.Tracing{Exporter: config.TracesExporterOTLP, Disabled: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp, shutdown, err := telemetry.Setup(context.Background(), tt.cfg, "flowbridge-test")
			require.NoError(t, err)
			require.Nil(t, tp, "got a provider, want none")
			require.NoError(t, shutdown(context.Background()))
		})
	}
}

// Spans reach an OTLP/HTTP collector at OTEL_EXPORTER_OTLP_ENDPOINT, with the service
// name and the resource attributes of OTEL_RESOURCE_ATTRIBUTES.
func TestSetupExportsOverOTLPHTTP(t *testing.T) {
	var mu sync.Mutex
	var got []*coltracepb.ExportTraceServiceRequest
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		req := &coltracepb.ExportTraceServiceRequest{}
		if err != nil || r.URL.Path != "/v1/traces" || proto.Unmarshal(body, req) != nil {
			http.Error(w, "not an OTLP trace export", http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, req)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		_, _ = w.Write(out)
	}))
	defer collector.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=test")

	tp, shutdown, err := telemetry.Setup(context.Background(), config.Tracing{Endpoint: collector.URL}, "flowbridge-test")
	require.NoError(t, err)
	require.NotNil(t, tp)
	_, span := tp.Tracer("test").Start(context.Background(), "exported")
	span.End()
	require.NoError(t, shutdown(context.Background()))

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, got, 1, "exports: got %d, want 1", len(got))
	rs := got[0].GetResourceSpans()
	require.Len(t, rs, 1)
	res := map[string]string{}
	for _, kv := range rs[0].GetResource().GetAttributes() {
		res[kv.GetKey()] = kv.GetValue().GetStringValue()
	}
	require.Equal(t, "flowbridge-test", res["service.name"])
	require.Equal(t, "test", res["deployment.environment.name"])
	require.Equal(t, "exported", rs[0].GetScopeSpans()[0].GetSpans()[0].GetName())
}

// traceService is an OTLP/gRPC collector that keeps what it is sent.
type traceService struct {
	coltracepb.UnimplementedTraceServiceServer
	got chan *coltracepb.ExportTraceServiceRequest
}

func (s *traceService) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	s.got <- req
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func TestSetupExportsOverOTLPGRPC(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	svc := &traceService{got: make(chan *coltracepb.ExportTraceServiceRequest, 10)}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, svc)
	go func() { _ = srv.Serve(ln) }()
	defer srv.Stop()
	endpoint := "http://" + ln.Addr().String() // http: without TLS
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
	t.Setenv("OTEL_SERVICE_NAME", "renamed")

	tp, shutdown, err := telemetry.Setup(context.Background(), config.Tracing{Protocol: config.OTLPProtocolGRPC, Endpoint: endpoint}, "flowbridge-test")
	require.NoError(t, err)
	_, span := tp.Tracer("test").Start(context.Background(), "exported")
	span.End()
	require.NoError(t, shutdown(context.Background()))
	select {
	case req := <-svc.got:
		rs := req.GetResourceSpans()[0]
		var service string
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				service = kv.GetValue().GetStringValue()
			}
		}
		require.Equal(t, "renamed", service, "OTEL_SERVICE_NAME wins over the binary's name")
		require.Equal(t, "exported", rs.GetScopeSpans()[0].GetSpans()[0].GetName())
	default:
		t.Fatal("the collector received nothing")
	}
}
