// Package installtest checks the install an ops team follows: the official
// NATS chart rendered with deploy/nats's values and booted, the credentials
// and their permissions, Pod Security, and the monitoring rules. It is its
// own module so that Helm, Kubernetes and Prometheus stay out of the
// service's go.mod.
package installtest
