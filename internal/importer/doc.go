// Package importer translates Istio and Linkerd traffic policy into a
// holdfast config: Istio's VirtualService and DestinationRule
// (networking.istio.io v1alpha3, v1beta1 and v1, which share one schema)
// and Linkerd's ServiceProfile (linkerd.io v1alpha2).
//
// The model: every input file may hold several Kubernetes resources
// (YAML documents separated by "---", or a kind: List). Each
// VirtualService HTTP route becomes one holdfast route per match
// alternative, its destinations become upstreams (one per host, subset
// and port) shared with the DestinationRules that describe them, and a
// ServiceProfile's routes become routes to the upstream of its service.
// Every field is either translated or named in a [Finding]: a field
// holdfast cannot express is "not translated", one whose meaning holdfast
// can only come close to is a "note". Nothing in the input is dropped
// silently, and the config written always passes [config.Parse].
//
// Endpoints are the one part no manifest can supply: a destination names a
// Kubernetes service, which a mesh resolves to pods by their labels. Each
// upstream gets one endpoint, http://HOST:PORT from the destination, and a
// note asking for the real addresses.
//
//	res, err := importer.Import([]importer.File{{Name: "vs.yaml", Data: vs}, {Name: "dr.yaml", Data: dr}})
//	if err != nil {
//		return err
//	}
//	os.WriteFile("holdfast.yaml", res.YAML, 0o644)
//	for _, f := range res.Findings {
//		fmt.Fprintln(os.Stderr, f)
//	}
//
// docs/import.md has the mapping field by field.
package importer
