package installtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/aftercare/aftercare/internal/natsauth"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// files are the contents of Secrets and ConfigMaps by name, then key.
type files map[string]map[string][]byte

// place writes what a pod's container would see: each Secret or ConfigMap
// volume the container mounts, under root. A path the values or overlays
// point at but nothing mounts is then simply missing, as in a real pod.
func place(t *testing.T, root string, spec corev1.PodSpec, container string, secrets, configMaps files) {
	t.Helper()
	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
	}
	for _, c := range spec.Containers {
		if c.Name != container {
			continue
		}
		for _, m := range c.VolumeMounts {
			v := volumes[m.Name]
			var src map[string][]byte
			var items []corev1.KeyToPath
			switch {
			case v.Secret != nil:
				s, ok := secrets[v.Secret.SecretName]
				if !ok {
					t.Fatalf("container %s mounts Secret %s, which the test does not make", container, v.Secret.SecretName)
				}
				src, items = s, v.Secret.Items
			case v.ConfigMap != nil:
				src, items = configMaps[v.ConfigMap.Name], v.ConfigMap.Items
			default:
				if err := os.MkdirAll(filepath.Join(root, m.MountPath), 0o700); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if len(items) == 0 {
				for k := range src {
					items = append(items, corev1.KeyToPath{Key: k, Path: k})
				}
			}
			for _, it := range items {
				data, ok := src[it.Key]
				if !ok {
					t.Fatalf("volume %s wants key %s, which its source does not hold", m.Name, it.Key)
				}
				path := filepath.Join(root, m.MountPath, it.Path)
				if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
		return
	}
	t.Fatalf("no container %s", container)
}

// statefulSet decodes the rendered NATS StatefulSet into the upstream type.
func statefulSet(t *testing.T, r rendered) *appsv1.StatefulSet {
	t.Helper()
	raw, err := json.Marshal(r.object(t, "StatefulSet"))
	if err != nil {
		t.Fatal(err)
	}
	var ss appsv1.StatefulSet
	if err := json.Unmarshal(raw, &ss); err != nil {
		t.Fatal(err)
	}
	return &ss
}

// cluster is the rendered StatefulSet's nats-servers, run in-process on
// loopback.
type cluster struct {
	servers []*server.Server
	urls    []string // tls://127.0.0.1:port of each
	ca      string   // the CA file, for clients
	logs    *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) printf(format string, v ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	fmt.Fprintf(&b.b, format+"\n", v...)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

type serverLog struct {
	name string
	buf  *syncBuffer
}

func (l serverLog) Noticef(string, ...any) {}
func (l serverLog) Warnf(f string, v ...any) {
	l.buf.printf(l.name+" WRN "+f, v...)
}
func (l serverLog) Fatalf(f string, v ...any) { l.buf.printf(l.name+" FTL "+f, v...) }
func (l serverLog) Errorf(f string, v ...any) { l.buf.printf(l.name+" ERR "+f, v...) }
func (l serverLog) Debugf(string, ...any)     {}
func (l serverLog) Tracef(string, ...any)     {}

// nodeOptions lays out one replica's filesystem as its pod would see it
// (the ConfigMap's nats.conf and every mounted Secret, under root) and
// parses nats.conf with nats-server's own parser.
func nodeOptions(t *testing.T, r rendered, ss *appsv1.StatefulSet, cmName, name, root string, secrets files) *server.Options {
	t.Helper()
	conf := r.natsConf
	// Absolute paths in the rendered config move under this node's root.
	for _, prefix := range []string{"/etc/", "/data", "/var/run/"} {
		conf = strings.ReplaceAll(conf, `"`+prefix, `"`+root+prefix)
	}
	place(t, root, ss.Spec.Template.Spec, "nats", secrets, files{cmName: {"nats.conf": []byte(conf)}})
	for _, dir := range []string{"/data", "/var/run/nats"} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// The container's SERVER_NAME is its pod's name.
	t.Setenv("SERVER_NAME", name)
	opts, err := server.ProcessConfigFile(filepath.Join(root, "etc/nats-config/nats.conf"))
	if err != nil {
		t.Fatalf("nats-server refuses the rendered nats.conf: %v", err)
	}
	if opts.ServerName != name {
		t.Fatalf("server_name %q, want %q", opts.ServerName, name)
	}
	return opts
}

// parseConf parses a rendered nats.conf as its first pod would, with test
// Secrets in place.
func parseConf(t *testing.T, r rendered) *server.Options {
	t.Helper()
	ss := statefulSet(t, r)
	cmName := r.object(t, "ConfigMap")["metadata"].(map[string]any)["name"].(string)
	secrets, _ := testSecrets(t)
	return nodeOptions(t, r, ss, cmName, ss.Name+"-0", t.TempDir(), secrets)
}

// testSecrets makes what ops create before installing (docs/production-nats.md):
// a CA, the clients' and routes' certificates, and cmd/natsauth's users
// (written to credDir, with their seeds).
func testSecrets(t *testing.T) (secrets files, credDir string) {
	t.Helper()
	ca := newPKI(t)
	clientCert, clientKey := ca.issue(t, "nats")
	routeCert, routeKey := ca.issue(t, "nats-headless")
	credDir = t.TempDir()
	if _, err := natsauth.Generate(credDir, []string{"harbour", "sol"}); err != nil {
		t.Fatal(err)
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(credDir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return files{
		"nats-ca":          {"ca.crt": ca.pem},
		"nats-client-tls":  {"tls.crt": clientCert, "tls.key": clientKey},
		"nats-cluster-tls": {"tls.crt": routeCert, "tls.key": routeKey},
		"nats-auth":        {"auth.conf": read("auth.conf")},
		// The service's side (deploy/k8s/overlays/prod).
		"aftercare-nats-nkeys": {"scheduler.nk": read("scheduler.nk"), "worker.nk": read("worker.nk")},
	}, credDir
}

// serverVersion is the nats-server the tests run (this module's, kept
// equal to the service's go.mod by TestSameServerAsTheService).
func serverVersion() string { return server.VERSION }

// bootCluster lays out each replica's filesystem as its pod would see it
// (the ConfigMap's nats.conf and every mounted Secret, under a root per
// node), parses nats.conf with nats-server's own parser, moves only ports,
// hosts and absolute paths to the test's loopback and directories, and
// starts the nodes.
func bootCluster(t *testing.T, r rendered, secrets files) *cluster {
	t.Helper()
	ss := statefulSet(t, r)
	replicas := int(*ss.Spec.Replicas)
	if replicas != 3 {
		t.Fatalf("StatefulSet has %d replicas, want 3", replicas)
	}
	cm := r.object(t, "ConfigMap")
	cmName := cm["metadata"].(map[string]any)["name"].(string)
	c := &cluster{logs: &syncBuffer{}}
	type ports struct{ client, route int }
	var ps []ports
	for range replicas {
		ps = append(ps, ports{freePort(t), freePort(t)})
	}
	var routes []*url.URL
	for _, p := range ps {
		routes = append(routes, &url.URL{Scheme: "tls", Host: fmt.Sprintf("127.0.0.1:%d", p.route)})
	}
	base := t.TempDir()
	for i := range replicas {
		name := fmt.Sprintf("%s-%d", ss.Name, i)
		root := filepath.Join(base, name)
		opts := nodeOptions(t, r, ss, cmName, name, root, secrets)
		opts.Host, opts.Port = "127.0.0.1", ps[i].client
		opts.Cluster.Host, opts.Cluster.Port = "127.0.0.1", ps[i].route
		if len(opts.Routes) != replicas {
			t.Fatalf("%d routes rendered, want %d", len(opts.Routes), replicas)
		}
		opts.Routes = routes
		opts.HTTPPort = 0
		opts.NoSigs = true
		s, err := server.NewServer(opts)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		s.SetLogger(serverLog{name, c.logs}, false, false)
		go s.Start()
		t.Cleanup(func() {
			s.Shutdown()
			s.WaitForShutdown()
		})
		c.servers = append(c.servers, s)
		c.urls = append(c.urls, fmt.Sprintf("tls://127.0.0.1:%d", ps[i].client))
		if c.ca == "" {
			c.ca = filepath.Join(root, "etc/nats-ca-cert/ca.crt")
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for _, s := range c.servers {
		for !s.ReadyForConnections(time.Second) || s.NumRoutes() < replicas-1 || !s.JetStreamIsCurrent() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: no cluster within 60s (routes %d)\n%s", s.Name(), s.NumRoutes(), c.logs)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return c
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// toJSON turns YAML into a value for json.Unmarshal.
func toJSON(t *testing.T, y []byte) []byte {
	t.Helper()
	j, err := yaml.YAMLToJSON(y)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

var _ = http.StatusOK
