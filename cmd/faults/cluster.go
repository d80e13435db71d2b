package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aftercare/aftercare/internal/natsjs"
)

// clusterScenarios are the node faults of a 3-node JetStream cluster with
// every stream at R3 (-nodes 3): each kills one node, or two, with kill -9
// and starts it again -down later, or restarts all three in turn as an
// upgrade does.
var clusterScenarios = []scenario{
	{"R3 no fault", func(context.Context, *run) (string, error) { return "-", nil }},
	{"R3 kill -9 a follower", killNode("a follower", func(r *run) ([]string, error) { return follower(r) })},
	{"R3 kill -9 the follow-ups stream's leader", killNode("the leader of "+natsjs.StreamFollowUps, streamLeader(natsjs.StreamFollowUps))},
	{"R3 kill -9 the sessions stream's leader", killNode("the leader of "+natsjs.StreamSessions, streamLeader(natsjs.StreamSessions))},
	{"R3 kill -9 the replies stream's leader", killNode("the leader of "+natsjs.StreamReplies, streamLeader(natsjs.StreamReplies))},
	{"R3 kill -9 the meta leader", killNode("the meta leader", metaLeader)},
	{"R3 two nodes down (no quorum)", killNode("two nodes", twoNodes)},
	{"R3 rolling restart", rollingRestart},
}

// killNode kills the nodes pick names, -kills times, each down for -down.
func killNode(what string, pick func(r *run) ([]string, error)) func(context.Context, *run) (string, error) {
	return func(ctx context.Context, r *run) (string, error) {
		var killed []string
		for range r.opts.kills {
			if err := waitFor(ctx, r.opts.faultGap()); err != nil {
				return "", err
			}
			names, err := pick(r)
			if err != nil {
				return "", err
			}
			for _, name := range names {
				r.sys.Nodes[r.sys.NodeIndex(name)].Proc.Kill()
			}
			r.recordingFaults = append(r.recordingFaults, time.Now())
			killed = append(killed, fmt.Sprint(names))
			time.Sleep(r.opts.down)
			for _, name := range names {
				if err := r.sys.StartNode(r.sys.NodeIndex(name)); err != nil {
					return "", err
				}
			}
			// The next fault comes once the cluster is whole again.
			if err := r.sys.WaitHealthy(time.Minute); err != nil {
				return "", err
			}
		}
		return fmt.Sprintf("killed %s %v, down %v each", what, killed, r.opts.down), nil
	}
}

// leaders reads who leads, waiting out an election in progress.
func leaders(r *run) (meta string, streams map[string]string, err error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		meta, streams, err = r.sys.Leaders()
		if err == nil && meta != "" && streams[natsjs.StreamFollowUps] != "" && streams[natsjs.StreamSessions] != "" && streams[natsjs.StreamReplies] != "" {
			return meta, streams, nil
		}
		if time.Now().After(deadline) {
			return "", nil, fmt.Errorf("no leaders after 30 s: meta %q, streams %v, %v", meta, streams, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func streamLeader(stream string) func(r *run) ([]string, error) {
	return func(r *run) ([]string, error) {
		_, streams, err := leaders(r)
		return []string{streams[stream]}, err
	}
}

func metaLeader(r *run) ([]string, error) {
	meta, _, err := leaders(r)
	return []string{meta}, err
}

// follower is a node that leads neither the meta layer nor the follow-ups,
// sessions or replies streams, or failing that one that leads no stream of
// those.
func follower(r *run) ([]string, error) {
	meta, streams, err := leaders(r)
	if err != nil {
		return nil, err
	}
	leads := map[string]int{meta: 1}
	for _, l := range streams {
		leads[l]++
	}
	best := ""
	for _, n := range r.sys.Nodes {
		if best == "" || leads[n.Name] < leads[best] {
			best = n.Name
		}
	}
	return []string{best}, nil
}

// twoNodes picks the two nodes that are not the follow-ups stream's leader:
// that leader loses its quorum too.
func twoNodes(r *run) ([]string, error) {
	_, streams, err := leaders(r)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range r.sys.Nodes {
		if n.Name != streams[natsjs.StreamFollowUps] {
			out = append(out, n.Name)
		}
	}
	if len(out) != 2 {
		return nil, errors.New("want three nodes")
	}
	return out, nil
}

// rollingRestart stops each node in turn with SIGTERM and starts it again,
// waiting for the cluster to be whole between, as an upgrade of the NATS
// StatefulSet does.
func rollingRestart(ctx context.Context, r *run) (string, error) {
	if err := waitFor(ctx, r.opts.faultGap()); err != nil {
		return "", err
	}
	start := time.Now()
	for i := range r.sys.Nodes {
		r.sys.Nodes[i].Proc.Stop()
		r.recordingFaults = append(r.recordingFaults, time.Now())
		if err := r.sys.StartNode(i); err != nil {
			return "", err
		}
		if err := r.sys.WaitHealthy(time.Minute); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("each node stopped and started in turn, %v in all", time.Since(start).Round(100*time.Millisecond)), nil
}
