// kstatus prints what sigs.k8s.io/cli-utils' kstatus (the library Flux's kustomize-controller and
// `flux` use to decide health) computes for Kubernetes objects read as JSON from stdin: one object,
// a JSON array of objects, or a List (its items). One JSON line per object:
// {"kind","name","status","message"} with status InProgress, Current, Failed, Terminating or NotFound.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type result struct {
	Kind    string        `json:"kind"`
	Name    string        `json:"name"`
	Status  status.Status `json:"status"`
	Message string        `json:"message"`
}

func main() {
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail(err)
	}
	// Decoded by apimachinery's own JSON reader (whole numbers as int64, as the API server's
	// clients see them): kstatus reads observedGeneration with NestedInt64.
	var raws []json.RawMessage
	if err := json.Unmarshal(in, &raws); err != nil {
		raws = []json.RawMessage{in}
	}
	var objs []*unstructured.Unstructured
	for _, r := range raws {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(r); err != nil {
			fail(fmt.Errorf("stdin: not a Kubernetes object (apiVersion, kind): %w", err))
		}
		if u.IsList() {
			_ = u.EachListItem(func(o runtime.Object) error { objs = append(objs, o.(*unstructured.Unstructured)); return nil })
		} else {
			objs = append(objs, u)
		}
	}
	enc := json.NewEncoder(os.Stdout)
	for _, u := range objs {
		res, err := status.Compute(u)
		if err != nil {
			fail(fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err))
		}
		_ = enc.Encode(result{Kind: u.GetKind(), Name: u.GetName(), Status: res.Status, Message: res.Message})
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(2)
}
