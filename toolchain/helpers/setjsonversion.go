//go:build ignore

// setjsonversion copies a Pulumi package schema (schema.json) to the file a
// provider embeds (schema-embed.json etc.), setting its top-level "version"
// key, which is what the providers' own `make` targets do with jq/go generate.
//
// Usage: go run setjsonversion.go IN OUT VERSION   (VERSION without leading v)
package main

import (
	"encoding/json"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: setjsonversion IN OUT VERSION")
		os.Exit(2)
	}
	in, out, version := os.Args[1], os.Args[2], os.Args[3]
	raw, err := os.ReadFile(in)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", in, err)
		os.Exit(1)
	}
	if version != "" {
		v, _ := json.Marshal(version)
		doc["version"] = v
	}
	// Compact output, as the upstream generators do.
	data, err := json.Marshal(doc)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.WriteFile(out, data, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
