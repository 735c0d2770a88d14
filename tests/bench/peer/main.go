// The peer of issue 22's scale benchmark: what a controller-runtime
// (kubebuilder) controller that watches Pods and Nodes holds in memory. It
// caches both through controller-runtime's cache, as a manager does for the
// kinds its controllers watch, optionally with the managedFields-stripping
// transform that is the usual advice, and reports its memory and CPU so the
// benchmark can sample it beside nodeguard at every step.
//
// Usage: peer --kubeconfig PATH [--strip-managed-fields] [--listen 127.0.0.1:0]
//
// It prints one JSON line when its caches have synced and serves the same
// figures, current, at http://LISTEN/stats; the first stdout line is
// "listening on ADDR".
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

type counters struct {
	podEvents  atomic.Int64
	nodeEvents atomic.Int64
	pods       atomic.Int64
	nodes      atomic.Int64
}

func (c *counters) handler(events, objects *atomic.Int64) toolscache.ResourceEventHandlerFuncs {
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { events.Add(1); objects.Add(1) },
		UpdateFunc: func(any, any) { events.Add(1) },
		DeleteFunc: func(any) { events.Add(1); objects.Add(-1) },
	}
}

type stats struct {
	Strip         bool    `json:"stripManagedFields"`
	Synced        bool    `json:"synced"`
	SyncSeconds   float64 `json:"syncSeconds"`
	Pods          int64   `json:"pods"`
	Nodes         int64   `json:"nodes"`
	PodEvents     int64   `json:"podEvents"`
	NodeEvents    int64   `json:"nodeEvents"`
	RSSBytes      int64   `json:"rssBytes"`
	HeapAlloc     uint64  `json:"heapAllocBytes"`
	HeapInuse     uint64  `json:"heapInuseBytes"`
	GoSys         uint64  `json:"goSysBytes"`
	CPUSeconds    float64 `json:"cpuSeconds"`
	UptimeSeconds float64 `json:"uptimeSeconds"`
}

// rssBytes reads VmRSS from /proc/self/status: the figure the benchmark
// compares across processes (the Go heap alone leaves out the runtime's own).
func rssBytes() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			fields := strings.Fields(line)
			if len(fields) >= 2 {
				kb, err := strconv.ParseInt(fields[1], 10, 64)
				if err == nil {
					return kb * 1024
				}
			}
		}
	}
	return -1
}

func cpuSeconds() float64 {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return -1
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(usage.Utime) + tv(usage.Stime)
}

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster")
	strip := flag.Bool("strip-managed-fields", false, "cache objects without metadata.managedFields (cache.TransformStripManagedFields)")
	listen := flag.String("listen", "127.0.0.1:0", "address of the /stats endpoint")
	qps := flag.Float64("kube-api-qps", 20, "client QPS (controller-runtime's default)")
	burst := flag.Int("kube-api-burst", 30, "client burst (controller-runtime's default)")
	flag.Parse()

	start := time.Now()
	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, "peer: kubeconfig:", err)
		os.Exit(1)
	}
	config.QPS = float32(*qps)
	config.Burst = *burst
	scheme := kruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		fmt.Fprintln(os.Stderr, "peer: scheme:", err)
		os.Exit(1)
	}
	options := cache.Options{Scheme: scheme}
	if *strip {
		options.DefaultTransform = cache.TransformStripManagedFields()
	}
	informers, err := cache.New(config, options)
	if err != nil {
		fmt.Fprintln(os.Stderr, "peer: cache:", err)
		os.Exit(1)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var count counters
	for _, kind := range []struct {
		object          client.Object
		events, objects *atomic.Int64
	}{
		{&corev1.Pod{}, &count.podEvents, &count.pods},
		{&corev1.Node{}, &count.nodeEvents, &count.nodes},
	} {
		informer, err := informers.GetInformer(ctx, kind.object)
		if err != nil {
			fmt.Fprintln(os.Stderr, "peer: informer:", err)
			os.Exit(1)
		}
		if _, err := informer.AddEventHandler(count.handler(kind.events, kind.objects)); err != nil {
			fmt.Fprintln(os.Stderr, "peer: handler:", err)
			os.Exit(1)
		}
	}

	var synced atomic.Bool
	var syncSeconds atomic.Int64 // milliseconds
	snapshot := func() stats {
		var memory runtime.MemStats
		runtime.ReadMemStats(&memory)
		return stats{
			Strip: *strip, Synced: synced.Load(),
			SyncSeconds: float64(syncSeconds.Load()) / 1000,
			Pods:        count.pods.Load(), Nodes: count.nodes.Load(),
			PodEvents: count.podEvents.Load(), NodeEvents: count.nodeEvents.Load(),
			RSSBytes: rssBytes(), HeapAlloc: memory.HeapAlloc, HeapInuse: memory.HeapInuse,
			GoSys: memory.Sys, CPUSeconds: cpuSeconds(),
			UptimeSeconds: time.Since(start).Seconds(),
		}
	}

	listener, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "peer: listen:", err)
		os.Exit(1)
	}
	fmt.Println("listening on", listener.Addr().String())
	mux := http.NewServeMux()
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		// ?gc=1 collects first, so a sample reads live memory, not garbage
		// waiting for the next cycle (the benchmark asks for it at each step).
		if r.URL.Query().Get("gc") == "1" {
			runtime.GC()
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(snapshot())
	})
	go func() { _ = http.Serve(listener, mux) }()

	go func() {
		if err := informers.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "peer: cache stopped:", err)
			os.Exit(1)
		}
	}()
	if !informers.WaitForCacheSync(ctx) {
		fmt.Fprintln(os.Stderr, "peer: caches did not sync")
		os.Exit(1)
	}
	syncSeconds.Store(time.Since(start).Milliseconds())
	synced.Store(true)
	line, _ := json.Marshal(snapshot())
	fmt.Println(string(line))
	<-ctx.Done()
}
