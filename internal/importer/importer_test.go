package importer

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/holdfast-dev/holdfast/config"
)

// The seeds' VirtualService: timeout 10s, retries 3 x 3s, a 0.1% 5s delay
// fault, a 90/10 split of v1 and v2.
const seedVirtualService = `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - fault: {delay: {percentage: {value: 0.1}, fixedDelay: 5s}}
    route:
    - destination: {host: reviews, subset: v1}
      weight: 90
    - destination: {host: reviews, subset: v2}
      weight: 10
    timeout: 10s
    retries: {attempts: 3, perTryTimeout: 3s, retryOn: "5xx,reset,connect-failure"}
`

const seedDestinationRule = `apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - name: v1
    labels: {version: v1}
  - name: v2
    labels: {version: v2}
`

// importCase is one import: the files in, the holdfast config that should
// come out (as a holdfast.yaml, parsed for the comparison) and the
// findings, in order, each as "PATH: SEVERITY: " and the start of its
// message.
type importCase struct {
	name     string
	files    []string // contents of in0.yaml, in1.yaml, ...
	want     string   // holdfast.yaml; "" when the import fails
	wantErr  error
	findings []string
}

var importCases = []importCase{
	{
		name:  "seed",
		files: []string{seedVirtualService, seedDestinationRule},
		want: `upstreams:
  reviews-v1: {endpoints: [{address: "http://reviews:80"}]}
  reviews-v2: {endpoints: [{address: "http://reviews:80"}]}
routes:
  - name: reviews
    split: [{upstream: reviews-v1, weight: 90}, {upstream: reviews-v2, weight: 10}]
    timeout: 10s
    retry: {attempts: 4, per_try_timeout: 3s, retry_on: [connect_failure, reset, 5xx]}
    fault: {delay: {percent: 0.1, duration: 5s}}
`,
		findings: []string{
			"spec.hosts: not translated: holdfast routes do not match on the Host header: these routes take requests for every host,",
			"spec.http[0]: note: holdfast counts a fault delay against the route timeout (10s); Envoy starts the route timeout after",
			"spec.http[0].route[0].destination: note: endpoint http://reviews:80 stands for the Kubernetes service",
			"spec.http[0].route[1].destination: note: endpoint http://reviews:80 stands for the Kubernetes service",
			"spec.http[0].retries: note: holdfast retries only idempotent requests (GET, HEAD, OPTIONS, PUT, DELETE, TRACE, or any",
		},
	},
	{
		name: "retryOn conditions",
		files: []string{`kind: VirtualService
apiVersion: networking.istio.io/v1
metadata: {name: a}
spec:
  http:
  - route: [{destination: {host: a, port: {number: 8080}}}]
    timeout: 5s
    retries:
      attempts: 2
      retryOn: "gateway-error, reset-before-request,refused-stream,retriable-4xx,503,429,envoy-ratelimited,unavailable,retriable-headers,http3-post-connect-failure,sometimes,700"
      backoff: 50ms
      retryRemoteLocalities: true
      retryIgnorePreviousHosts: false
`},
		want: `upstreams:
  a: {endpoints: [{address: "http://a:8080"}]}
routes:
  - name: a
    upstream: a
    timeout: 5s
    retry:
      attempts: 3
      retry_on: [reset, gateway_error, retriable_status]
      retriable_statuses: [409, 503, 429]
      backoff: {base: 50ms, max: 500ms}
`,
		findings: []string{
			"spec.http[0].route[0].destination: note: endpoint http://a:8080 stands for the Kubernetes service",
			"spec.http[0].retries: note: holdfast retries only idempotent requests (GET, HEAD, OPTIONS, PUT, DELETE, TRACE, or any",
			"spec.http[0].retries.retryOn: note: reset-before-request: holdfast's reset also retries a reset after the request was",
			"spec.http[0].retries.retryOn: note: refused-stream: holdfast does not tell a refused HTTP/2 stream from another reset;",
			"spec.http[0].retries.retryOn: not translated: envoy-ratelimited: holdfast does not read Envoy's x-envoy-ratelimited",
			"spec.http[0].retries.retryOn: not translated: unavailable: a gRPC status; holdfast's retry_on does not read grpc-status",
			"spec.http[0].retries.retryOn: not translated: retriable-headers: holdfast does not retry on response headers",
			"spec.http[0].retries.retryOn: not translated: http3-post-connect-failure: holdfast does not speak HTTP/3",
			"spec.http[0].retries.retryOn: not translated: \"sometimes\" is not a retry condition Envoy knows",
			"spec.http[0].retries.retryOn: not translated: \"700\" is not an HTTP status",
			"spec.http[0].retries.retryRemoteLocalities: not translated: holdfast has no localities",
			"spec.http[0].retries.retryIgnorePreviousHosts: not translated: holdfast always sends a retry to an endpoint the request",
		},
	},
	{
		name: "retries off, default retryOn, no timeout",
		files: []string{`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: a, namespace: shop}
spec:
  http:
  - name: off
    match: [{uri: {prefix: /off}}]
    route: [{destination: {host: a}}]
    retries: {attempts: 0, perTryTimeout: 1s}
  - name: defaults
    match: [{uri: {prefix: /defaults}}]
    route: [{destination: {host: a}}]
    retries: {attempts: 2, perTryTimeout: 10s}
  - name: grpc-only
    route: [{destination: {host: a}}]
    timeout: 0s
    retries: {attempts: 2, retryOn: "unavailable"}
`},
		want: `upstreams:
  a: {endpoints: [{address: "http://a:80"}]}
routes:
  - name: a-off
    match: {path_prefix: /off}
    upstream: a
    timeout: 15s
    retry: {attempts: 1, per_try_timeout: 1s}
  - name: a-defaults
    match: {path_prefix: /defaults}
    upstream: a
    timeout: 30s
    retry: {attempts: 3, per_try_timeout: 10s, retry_on: [connect_failure, reset]}
  - name: a-grpc-only
    upstream: a
    timeout: 15s
    retry: {attempts: 1}
`,
		findings: []string{
			"spec.http[0]: note: no timeout: Istio sets none, and every holdfast route has one: 15s",
			"spec.http[0].route[0].destination: note: endpoint http://a:80 stands for the Kubernetes service",
			"spec.http[0].retries.attempts: note: no retries: Istio retries nothing when attempts is 0 or left out; attempts: 1",
			"spec.http[1]: note: no timeout: Istio sets none, and every holdfast route has one: 30s",
			"spec.http[1].retries: note: no retryOn: Istio's default, connect-failure,refused-stream,unavailable,cancelled, is",
			"spec.http[1].retries: note: refused-stream: holdfast does not tell a refused HTTP/2 stream from another reset; reset",
			"spec.http[1].retries: not translated: unavailable: a gRPC status; holdfast's retry_on does not read grpc-status",
			"spec.http[1].retries: not translated: cancelled: a gRPC status; holdfast's retry_on does not read grpc-status",
			"spec.http[1].retries: note: holdfast retries only idempotent requests (GET, HEAD, OPTIONS, PUT, DELETE, TRACE, or any",
			"spec.http[2].timeout: note: no timeout: Istio sets none, and every holdfast route has one: 15s",
			"spec.http[2].retries.retryOn: not translated: unavailable: a gRPC status; holdfast's retry_on does not read grpc-status",
			"spec.http[2].retries.retryOn: note: no condition holdfast can check; retries are off: attempts: 1",
		},
	},
	{
		name: "matches",
		files: []string{`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api}
spec:
  http:
  - name: exact
    match:
    - name: exact
      uri: {exact: /healthz}
      method: {exact: GET}
    - name: folded
      uri: {prefix: /Docs}
      ignoreUriCase: true
      method: {regex: "^(GET|HEAD)$"}
      headers:
        x-canary: {}
        x-tenant: {prefix: "acme."}
        authorization: {exact: "Bearer abc"}
        x-empty: {exact: ""}
      withoutHeaders:
        x-debug: {}
      sourceLabels: {app: web}
    - uri: {regex: "/v[0-9]+/.*"}
      headers:
        x-user: {regex: "[a-z]+"}
    - uri: {prefix: /q}
      queryParams: {debug: {exact: "1"}}
    - uri: {exact: "nope"}
    - withoutHeaders: {x-a: {exact: b}}
    - method: {prefix: P}
    route: [{destination: {host: api}}]
    timeout: 1s
`},
		want: `upstreams:
  api: {endpoints: [{address: "http://api:80"}]}
routes:
  - name: api-exact-exact
    match: {path: /healthz, methods: [GET]}
    upstream: api
    timeout: 1s
  - name: api-exact-folded
    match:
      path_regex: "(?i)/Docs.*"
      methods: [GET, HEAD]
      headers:
        - {name: x-canary, present: true}
        - {name: x-tenant, regex: 'acme\..*'}
        - {name: authorization, exact: Bearer abc}
        - {name: x-empty, regex: "^$"}
        - {name: x-debug, present: false}
    upstream: api
    timeout: 1s
  - name: api-exact-2
    match: {path_regex: "/v[0-9]+/.*", headers: [{name: x-user, regex: "[a-z]+"}]}
    upstream: api
    timeout: 1s
`,
		findings: []string{
			"spec.http[0].match[1].sourceLabels: not translated: chooses which clients or gateways the rule applies to, not a",
			"spec.http[0].match[3].queryParams: not translated: holdfast routes do not match on query parameters; the route for this",
			"spec.http[0].match[4].uri: not translated: a path starts with /, so exact \"nope\" never matches; the route for this",
			"spec.http[0].match[5].withoutHeaders.x-a: not translated: holdfast can require a header to be absent, not to differ",
			"spec.http[0].match[6].method: not translated: holdfast matches a list of methods, not prefix \"P\"; the route for this",
			"spec.http[0].route[0].destination: note: endpoint http://api:80 stands for the Kubernetes service",
		},
	},
	{
		name: "weights and destinations",
		files: []string{`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: w}
spec:
  http:
  - name: zero
    match: [{uri: {prefix: /zero}}]
    route:
    - {destination: {host: a}, weight: 100}
    - {destination: {host: b}, weight: 0}
    timeout: 1s
  - name: equal
    match: [{uri: {prefix: /equal}}]
    route:
    - destination: {host: a}
    - destination: {host: b}
    timeout: 1s
  - name: wild
    route:
    - destination: {host: "*.example.com"}
    timeout: 1s
  - name: redirect
    redirect: {uri: /elsewhere}
  - name: mirror
    route: [{destination: {host: a}, headers: {request: {set: {x: y}}}}]
    mirror: {host: b}
    mirrorPercentage: {value: 10}
    corsPolicy: {allowOrigins: [{exact: "*"}]}
    rewrite: {uri: /}
    timeout: 1s
`},
		want: `upstreams:
  a: {endpoints: [{address: "http://a:80"}]}
  b: {endpoints: [{address: "http://b:80"}]}
routes:
  - name: w-zero
    match: {path_prefix: /zero}
    upstream: a
    timeout: 1s
  - name: w-equal
    match: {path_prefix: /equal}
    split: [{upstream: a, weight: 1}, {upstream: b, weight: 1}]
    timeout: 1s
  - name: w-mirror
    upstream: a
    timeout: 1s
`,
		findings: []string{
			"spec.http[0].route[0].destination: note: endpoint http://a:80 stands for the Kubernetes service",
			"spec.http[0].route[1].weight: note: weight 0 sends this destination nothing; it is left out of the split",
			"spec.http[0].route[1].destination: note: endpoint http://b:80 stands for the Kubernetes service",
			"spec.http[1].route: note: no destination has a weight: they share the traffic equally",
			"spec.http[2]: not translated: no destination could be translated; the route is left out",
			"spec.http[2].route[0].destination.host: not translated: \"*.example.com\" is not a host name holdfast can send to; the",
			"spec.http[3].redirect: not translated: holdfast answers no redirects itself; the route is left out",
			"spec.http[4].route[0].headers: not translated: holdfast does not add, set or remove headers",
			"spec.http[4].mirror: not translated: holdfast does not mirror traffic",
			"spec.http[4].mirrorPercentage: not translated: holdfast does not mirror traffic",
			"spec.http[4].corsPolicy: not translated: holdfast does not answer CORS preflights or add CORS headers",
			"spec.http[4].rewrite: not translated: holdfast forwards the path and Host as the client sent them",
		},
	},
	{
		name: "fault",
		files: []string{`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: f}
spec:
  http:
  - route: [{destination: {host: f}}]
    timeout: 2s
    fault:
      delay: {percent: 5, fixedDelay: 100ms}
      abort: {httpStatus: 503, percentage: {value: 1.5}}
  - route: [{destination: {host: f}}]
    timeout: 2s
    fault:
      delay: {exponentialDelay: 1s, percentage: {value: 1}}
      abort: {grpcStatus: UNAVAILABLE, percentage: {value: 1}}
  - route: [{destination: {host: f}}]
    timeout: 2s
    fault:
      abort: {httpStatus: 503}
`},
		want: `upstreams:
  f: {endpoints: [{address: "http://f:80"}]}
routes:
  - name: f-0
    upstream: f
    timeout: 2s
    fault: {delay: {percent: 5, duration: 100ms}, abort: {percent: 1.5, status: 503}}
  - name: f-1
    upstream: f
    timeout: 2s
  - name: f-2
    upstream: f
    timeout: 2s
`,
		findings: []string{
			"spec.http[0]: note: holdfast counts a fault delay against the route timeout (2s); Envoy starts the route timeout after",
			"spec.http[0].route[0].destination: note: endpoint http://f:80 stands for the Kubernetes service",
			"spec.http[1]: note: route f-1 is never used: route f-0 (VirtualService f, spec.http[0]) before it takes every request,",
			"spec.http[1].fault.delay.exponentialDelay: not translated: holdfast delays by a fixed time only",
			"spec.http[1].fault.abort.grpcStatus: not translated: holdfast aborts with an HTTP status only",
			"spec.http[2]: note: route f-2 is never used: route f-0 (VirtualService f, spec.http[0]) before it takes every request,",
			"spec.http[2].fault.abort: not translated: no percentage: Istio applies the abort to no request",
		},
	},
	{
		name: "destination rule policies",
		files: []string{`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop}
spec:
  http:
  - match: [{uri: {prefix: /cart}}]
    route: [{destination: {host: cart.shop.svc.cluster.local, port: {number: 9080}}}]
    timeout: 1s
  - route:
    - {destination: {host: catalog, subset: stable}, weight: 80}
    - {destination: {host: catalog, subset: canary}, weight: 20}
    - {destination: {host: catalog, subset: missing}, weight: 0}
    timeout: 1s
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: cart}
spec:
  host: cart.shop.svc.cluster.local
  trafficPolicy:
    connectionPool:
      http: {http2MaxRequests: 50, http1MaxPendingRequests: 5, maxRetries: 3, h2UpgradePolicy: UPGRADE}
      tcp: {maxConnections: 10}
    outlierDetection: {consecutiveGatewayErrors: 3, consecutive5xxErrors: 0, baseEjectionTime: 1m, minHealthPercent: 20}
    tls: {mode: SIMPLE, sni: cart.example.com, caCertificates: /etc/certs/ca.pem}
    portLevelSettings:
    - port: {number: 9080}
      loadBalancer: {simple: RANDOM}
    - port: {number: 9090}
      loadBalancer: {simple: ROUND_ROBIN}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: catalog}
spec:
  host: catalog
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN, consistentHash: {httpHeaderName: x-user}}
    outlierDetection: {consecutive5xxErrors: 0}
    retryBudget: {percent: 25, minRetryConcurrency: 5}
  subsets:
  - name: stable
    labels: {track: stable}
  - name: canary
    labels: {track: canary}
    trafficPolicy:
      outlierDetection: {consecutive5xxErrors: 2, consecutiveGatewayErrors: 1}
      tls: {mode: ISTIO_MUTUAL}
  - name: unused
`},
		want: `upstreams:
  cart:
    endpoints: [{address: "https://cart.shop.svc.cluster.local:9080"}]
    balancer: random
    protocol: h2c
    tls: {server_name: cart.example.com}
    outlier_detection: {consecutive_failures: 3, base_ejection_time: 1m}
    concurrency: {limit: 50, queue: 5}
  catalog-stable:
    endpoints: [{address: "http://catalog:80"}]
    balancer: round_robin
    outlier_detection: {disabled: true}
    retry_budget: {ratio: 0.25}
  catalog-canary:
    endpoints: [{address: "http://catalog:80"}]
    balancer: round_robin
    outlier_detection: {consecutive_failures: 2}
    retry_budget: {ratio: 0.25}
routes:
  - name: shop-0
    match: {path_prefix: /cart}
    upstream: cart
    timeout: 1s
  - name: shop-1
    split: [{upstream: catalog-stable, weight: 80}, {upstream: catalog-canary, weight: 20}]
    timeout: 1s
`,
		findings: []string{
			"spec.http[0].route[0].destination: note: endpoint https://cart.shop.svc.cluster.local:9080 stands for the Kubernetes",
			"spec.http[1].route[0].destination: note: endpoint http://catalog:80 stands for the Kubernetes service",
			"spec.http[1].route[1].destination: note: endpoint http://catalog:80 stands for the Kubernetes service",
			"spec.http[1].route[2].weight: note: weight 0 sends this destination nothing; it is left out of the split",
			"spec.trafficPolicy.connectionPool.http.h2UpgradePolicy: note: UPGRADE: holdfast speaks HTTP/2 to the endpoints with",
			"spec.trafficPolicy.connectionPool.http.maxRetries: not translated: holdfast bounds retries with a retry budget",
			"spec.trafficPolicy.connectionPool.http.http1MaxPendingRequests: note: a queued request waits up to",
			"spec.trafficPolicy.connectionPool.tcp.maxConnections: not translated: over HTTP/2 a connection carries many requests;",
			"spec.trafficPolicy.outlierDetection.consecutiveGatewayErrors: note: holdfast counts every 5xx, connect failure, reset",
			"spec.trafficPolicy.outlierDetection.minHealthPercent: not translated: holdfast keeps ejecting within",
			"spec.trafficPolicy.tls.caCertificates: not translated: a path in the Istio proxy's file system; set",
			"spec.trafficPolicy.portLevelSettings[1]: note: no translated route sends to port 9090; these settings are not used",
			"spec.trafficPolicy.loadBalancer.consistentHash: not translated: holdfast has no hash-based (sticky) balancer",
			"spec.trafficPolicy.outlierDetection.consecutive5xxErrors: note: 0 turns 5xx ejection off and no gateway-error count is",
			"spec.trafficPolicy.retryBudget.percent: note: Envoy counts retries in flight against requests in flight; holdfast",
			"spec.trafficPolicy.retryBudget.minRetryConcurrency: not translated: a floor of concurrent retries; holdfast's floor,",
			"spec.subsets[1].trafficPolicy.outlierDetection.consecutiveGatewayErrors: not translated: holdfast counts one kind of",
			"spec.subsets[1].trafficPolicy.tls.mode: not translated: Istio's mesh mTLS uses certificates of Istio's own; holdfast",
			"spec.subsets[2]: note: no translated route sends to subset unused; it is not used",
		},
	},
	{
		name: "service profile",
		files: []string{`apiVersion: linkerd.io/v1alpha2
kind: ServiceProfile
metadata: {name: books.default.svc.cluster.local, namespace: default}
spec:
  routes:
  - name: GET /books/{id}
    condition: {method: GET, pathRegex: '/books/\d+'}
    isRetryable: true
    timeout: 300ms
  - name: list
    condition:
      any:
      - {method: GET, pathRegex: /books}
      - {method: HEAD, pathRegex: /books}
    isRetryable: true
    responseClasses:
    - condition: {status: {min: 503, max: 503}}
      isFailure: false
    - condition: {any: [{status: {min: 429, max: 429}}, {status: {min: 500}}]}
      isFailure: true
  - name: not
    condition: {not: {method: POST}}
  - name: both
    condition: {all: [{method: GET}, {method: POST}]}
  - name: delete
    condition: {method: DELETE, pathRegex: '/books/\d+'}
    responseClasses: [{condition: {status: {min: 500}}, isFailure: true}]
  retryBudget: {retryRatio: 0.3, minRetriesPerSecond: 5, ttl: 20s}
  opaquePorts: ["3306"]
`},
		want: `upstreams:
  books:
    endpoints: [{address: "http://books.default.svc.cluster.local:80"}]
    retry_budget: {ratio: 0.3, min_per_second: 5, window: 20s}
routes:
  - name: books-GET-books-id
    match: {path_regex: '/books/\d+', methods: [GET]}
    upstream: books
    timeout: 300ms
    retry: {attempts: 3, retry_on: [5xx]}
  - name: books-list-0
    match: {path_regex: /books, methods: [GET]}
    upstream: books
    timeout: 15s
    retry: &list {attempts: 3, retry_on: [connect_failure, retriable_status], retriable_statuses: [429, 500, 501, 502, 504, 505, 506, 507, 508, 509, 510, 511, 512, 513, 514, 515, 516, 517, 518, 519, 520, 521, 522, 523, 524, 525, 526, 527, 528, 529, 530, 531, 532, 533, 534, 535, 536, 537, 538, 539, 540, 541, 542, 543, 544, 545, 546, 547, 548, 549, 550, 551, 552, 553, 554, 555, 556, 557, 558, 559, 560, 561, 562, 563, 564, 565, 566, 567, 568, 569, 570, 571, 572, 573, 574, 575, 576, 577, 578, 579, 580, 581, 582, 583, 584, 585, 586, 587, 588, 589, 590, 591, 592, 593, 594, 595, 596, 597, 598, 599]}
  - name: books-list-1
    match: {path_regex: /books, methods: [HEAD]}
    upstream: books
    timeout: 15s
    retry: *list
  - name: books-delete
    match: {path_regex: '/books/\d+', methods: [DELETE]}
    upstream: books
    timeout: 15s
    retry: {attempts: 1}
  - name: books
    upstream: books
    timeout: 15s
    retry: {attempts: 1}
`,
		findings: []string{
			"metadata.name: note: endpoint http://books.default.svc.cluster.local:80 stands for the Kubernetes service",
			"spec: note: requests no route matches reach the service by a route of their own, books: no retries, and holdfast's",
			"spec.routes[0].isRetryable: note: Linkerd bounds retries only by the retry budget; holdfast also by a count: attempts: 3",
			"spec.routes[0].isRetryable: note: holdfast retries only idempotent requests (GET, HEAD, OPTIONS, PUT, DELETE, TRACE, or",
			"spec.routes[1]: note: no timeout: Linkerd sets none, and every holdfast route has one: 15s",
			"spec.routes[1].isRetryable: note: Linkerd bounds retries only by the retry budget; holdfast also by a count: attempts: 3",
			"spec.routes[1].isRetryable: note: holdfast retries only idempotent requests (GET, HEAD, OPTIONS, PUT, DELETE, TRACE, or",
			"spec.routes[2].condition.not: not translated: holdfast routes cannot negate a condition; the route is left out",
			"spec.routes[3].condition: note: no request can meet this condition (two different methods at once); the route is left",
			"spec.routes[4]: note: no timeout: Linkerd sets none, and every holdfast route has one: 15s",
			"spec.routes[4].responseClasses: not translated: without isRetryable, response classes only classify Linkerd's metrics;",
			"spec.opaquePorts: not translated: holdfast proxies HTTP only; opaque (TCP) ports are not translated",
		},
	},
	{
		name: "service profile split and budget edge cases",
		files: []string{`kind: ServiceProfile
apiVersion: linkerd.io/v1alpha2
metadata: {name: web.prod.svc.cluster.local}
spec:
  dstOverrides:
  - {authority: web-v1.prod.svc.cluster.local:8080, weight: 900m}
  - {authority: web-v2.prod.svc.cluster.local:8080, weight: 100m}
  retryBudget: {retryRatio: 0, minRetriesPerSecond: 0, ttl: 10s}
`},
		want: `upstreams:
  web-v1: {endpoints: [{address: "http://web-v1.prod.svc.cluster.local:8080"}], retry_budget: {window: 10s}}
  web-v2: {endpoints: [{address: "http://web-v2.prod.svc.cluster.local:8080"}], retry_budget: {window: 10s}}
routes:
  - name: web
    split: [{upstream: web-v1, weight: 9}, {upstream: web-v2, weight: 1}]
    timeout: 15s
    retry: {attempts: 1}
`,
		findings: []string{
			"spec: note: requests no route matches reach the service by a route of their own, web: no retries, and holdfast's",
			"spec.dstOverrides[0]: note: endpoint http://web-v1.prod.svc.cluster.local:8080 stands for the Kubernetes service",
			"spec.dstOverrides[1]: note: endpoint http://web-v2.prod.svc.cluster.local:8080 stands for the Kubernetes service",
			"spec.retryBudget.retryRatio: not translated: holdfast's budget ratio must be above 0, got 0; its default, 0.2, applies",
			"spec.retryBudget.minRetriesPerSecond: not translated: holdfast reads a min_per_second of 0 as its default, 10",
			"spec.retryBudget: note: Linkerd's budget is the service's; holdfast's is each upstream's: every upstream of the split",
		},
	},
	{
		name: "multi-document files, lists, other kinds, unknown fields",
		files: []string{`# a manifest of several kinds
apiVersion: v1
kind: Service
metadata: {name: ratings}
spec: {ports: [{port: 9080}]}
---
---
apiVersion: v1
kind: List
items:
- apiVersion: networking.istio.io/v1alpha3
  kind: VirtualService
  metadata: {name: ratings}
  spec:
    http:
    - route: [{destination: {host: ratings}}]
      timeout: 1s
      retries: {attempts: 1, perTryTimout: 1s}
      fualt: {}
- apiVersion: example.com/v1
  kind: VirtualService
  metadata: {name: odd}
  spec: {}
...
`},
		want: `upstreams:
  ratings: {endpoints: [{address: "http://ratings:80"}]}
routes:
  - name: ratings
    upstream: ratings
    timeout: 1s
    retry: {attempts: 2, retry_on: [connect_failure, reset]}
`,
		findings: []string{
			": not translated: kind Service is not a VirtualService, DestinationRule or ServiceProfile; skipped",
			"items[0].spec.http[0].route[0].destination: note: endpoint http://ratings:80 stands for the Kubernetes service",
			"items[0].spec.http[0].retries: note: no retryOn: Istio's default, connect-failure,refused-stream,unavailable,cancelled,",
			"items[0].spec.http[0].retries: note: refused-stream: holdfast does not tell a refused HTTP/2 stream from another reset;",
			"items[0].spec.http[0].retries: not translated: unavailable: a gRPC status; holdfast's retry_on does not read grpc-status",
			"items[0].spec.http[0].retries: not translated: cancelled: a gRPC status; holdfast's retry_on does not read grpc-status",
			"items[0].spec.http[0].retries.perTryTimout: not translated: unknown field (did you mean \"perTryTimeout\"?)",
			"items[0].spec.http[0].retries: note: holdfast retries only idempotent requests (GET, HEAD, OPTIONS, PUT, DELETE, TRACE,",
			"items[0].spec.http[0].fualt: not translated: unknown field (did you mean \"fault\"?)",
			"items[1].apiVersion: note: VirtualService comes from networking.istio.io/..., got \"example.com/v1\"; read as one",
		},
	},
	{
		name: "credential header matches are written as they are",
		files: []string{`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: auth}
spec:
  http:
  - match: [{headers: {authorization: {exact: "Bearer s3cret"}, cookie: {regex: "session=.*"}}}]
    route: [{destination: {host: auth}}]
    timeout: 1s
`},
		want: `upstreams:
  auth: {endpoints: [{address: "http://auth:80"}]}
routes:
  - name: auth
    match: {headers: [{name: authorization, exact: Bearer s3cret}, {name: cookie, regex: "session=.*"}]}
    upstream: auth
    timeout: 1s
`,
		findings: []string{
			"spec.http[0].route[0].destination: note: endpoint http://auth:80 stands for the Kubernetes service",
		},
	},
	{
		name: "per-try timeout past the route timeout, names taken twice",
		files: []string{`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: x}
spec:
  http:
  - name: a
    match: [{uri: {prefix: /a}}]
    route: [{destination: {host: x}}]
    timeout: 2s
    retries: {attempts: 1, perTryTimeout: 5s, retryOn: 5xx}
  - name: a
    route: [{destination: {host: x}}]
    timeout: 2s
`},
		want: `upstreams:
  x: {endpoints: [{address: "http://x:80"}]}
routes:
  - name: x-a
    match: {path_prefix: /a}
    upstream: x
    timeout: 2s
    retry: {attempts: 2, per_try_timeout: 2s, retry_on: [5xx]}
  - name: x-a-2
    upstream: x
    timeout: 2s
`,
		findings: []string{
			"spec.http[0]: note: the per-try timeout 5s is longer than the route timeout 2s, which bounds it anyway: per_try_timeout: 2s",
			"spec.http[0].route[0].destination: note: endpoint http://x:80",
			"spec.http[0].retries: note: holdfast retries only idempotent requests",
		},
	},
	{
		name:    "nothing to translate",
		files:   []string{"kind: ConfigMap\nmetadata: {name: x}\n"},
		wantErr: ErrNoRoutes,
		findings: []string{
			": not translated: kind ConfigMap is not a VirtualService, DestinationRule or ServiceProfile; skipped",
		},
	},
	{
		name:    "not YAML",
		files:   []string{"kind: VirtualService\nspec: [\n"},
		wantErr: ErrSyntax,
	},
}

func fileNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "in" + string(rune('0'+i)) + ".yaml"
	}
	return out
}

func importStrings(files []string) (*Result, error) {
	in := make([]File, len(files))
	for i, name := range fileNames(len(files)) {
		in[i] = File{Name: name, Data: []byte(files[i])}
	}
	return Import(in)
}

// allExported lets cmp compare the config's unexported fields too.
var allExported = cmp.Exporter(func(reflect.Type) bool { return true })

func TestImport(t *testing.T) {
	for _, tc := range importCases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := importStrings(tc.files)
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("error %v; want %v", err, tc.wantErr)
			}
			if res != nil {
				checkFindings(t, res.Findings, tc.findings)
			}
			if tc.want == "" {
				return
			}
			want, err := config.Parse([]byte(tc.want))
			if err != nil {
				t.Fatalf("the test's want does not parse: %v", err)
			}
			got, err := config.Parse(res.YAML)
			if err != nil {
				t.Fatalf("config.Parse of the output: %v\n%s", err, res.YAML)
			}
			if d := cmp.Diff(want, got, allExported); d != "" {
				t.Errorf("config (-want +got):\n%s\noutput:\n%s", d, res.YAML)
			}
			if d := cmp.Diff(res.Config, got, allExported); d != "" {
				t.Errorf("Result.Config is not the output parsed (-Config +parsed):\n%s", d)
			}
		})
	}
}

func checkFindings(t *testing.T, got []Finding, want []string) {
	t.Helper()
	var lines []string
	for _, f := range got {
		lines = append(lines, f.Path+": "+f.Severity.String()+": "+f.Msg)
	}
	ok := len(lines) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = strings.HasPrefix(lines[i], want[i])
	}
	if !ok {
		t.Errorf("findings:\n  %s\nwant (each a prefix):\n  %s", strings.Join(lines, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestImportProfileBesideVirtualService(t *testing.T) {
	vs := `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: books, namespace: default}
spec:
  http:
  - route: [{destination: {host: books}}]
    timeout: 2s
`
	sp := `apiVersion: linkerd.io/v1alpha2
kind: ServiceProfile
metadata: {name: books.default.svc.cluster.local, namespace: default}
spec:
  routes:
  - name: list
    condition: {method: GET, pathRegex: /books}
    timeout: 1s
`
	res, err := importStrings([]string{sp, vs})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range res.Config.Routes {
		names = append(names, r.Name+" -> "+r.Upstream)
	}
	if want := []string{"books-list -> books", "books -> books"}; !slices.Equal(names, want) {
		t.Errorf("routes %q; want %q (the profile's route for every other request left out)", names, want)
	}
	checkFindings(t, res.Findings, []string{
		"metadata.name: note: endpoint http://books.default.svc.cluster.local:80",
		"spec: note: VirtualService routes send to books.default.svc.cluster.local too",
	})
}

func TestImportErrors(t *testing.T) {
	_, err := importStrings([]string{"kind: VirtualService\n", "a: 1\nb: [\n"})
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrSyntax) {
		t.Fatalf("error %v; want an *Error matching ErrSyntax", err)
	}
	if e.File != "in1.yaml" || e.Line == 0 {
		t.Errorf("error at %s line %d; want in1.yaml and its line", e.File, e.Line)
	}
	if got := err.Error(); !strings.HasPrefix(got, "importer: invalid YAML: in1.yaml (line ") {
		t.Errorf("message %q; want it to name the file and line", got)
	}

	res, err := importStrings([]string{"kind: DestinationRule\napiVersion: networking.istio.io/v1\nmetadata: {name: x}\nspec: {host: x}\n"})
	if !errors.Is(err, ErrNoRoutes) || res == nil {
		t.Fatalf("error %v, result %v; want ErrNoRoutes with the findings", err, res)
	}
	checkFindings(t, res.Findings, []string{"spec.host: note: no translated route sends to host x.default.svc.cluster.local"})
}

func TestFindingString(t *testing.T) {
	for _, tc := range []struct {
		f    Finding
		want string
	}{
		{Finding{File: "vs.yaml", Resource: "VirtualService reviews", Path: "spec.http[0].mirror", Line: 12, Msg: "holdfast does not mirror traffic"},
			"vs.yaml: VirtualService reviews: spec.http[0].mirror (line 12): not translated: holdfast does not mirror traffic"},
		{Finding{File: "a.yaml", Resource: "Service x", Line: 3, Severity: Note, Msg: "m"}, "a.yaml: Service x: line 3: note: m"},
		{Finding{File: "a.yaml", Msg: "m"}, "a.yaml: not translated: m"},
	} {
		if got := tc.f.String(); got != tc.want {
			t.Errorf("got %q; want %q", got, tc.want)
		}
	}
}

// TestImportAliasBomb: a List whose items, routes and matches are aliases
// of aliases would make reading visit tens of millions of values; the
// budget stops it and says so.
func TestImportAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: List\nx:\n  m: &m {headers: {")
	for i := range 20 {
		fmt.Fprintf(&b, "h%d: {}, ", i)
	}
	b.WriteString("}, queryParams: {q: {}}}\n  ms: &ms [")
	for range 20 {
		b.WriteString("*m, ")
	}
	b.WriteString("]\n  r: &r {match: *ms, route: [{destination: {host: a}}], timeout: 1s}\n")
	b.WriteString("  vs: &vs {apiVersion: networking.istio.io/v1, kind: VirtualService, metadata: {name: a}, spec: {http: [")
	for range 20 {
		b.WriteString("*r, ")
	}
	b.WriteString("]}}\nitems: [")
	for range 200 {
		b.WriteString("*vs, ")
	}
	b.WriteString("]\n")
	// The query parameters leave every route out: the test reads much
	// and writes nothing.
	res, err := importStrings([]string{b.String()})
	if !errors.Is(err, ErrNoRoutes) {
		t.Fatalf("error %v; want ErrNoRoutes", err)
	}
	found := false
	for _, f := range res.Findings {
		found = found || strings.Contains(f.Msg, "aliases repeat more than 100000 values")
	}
	if !found {
		t.Errorf("no finding about the aliases among %d findings", len(res.Findings))
	}
}

func FuzzImport(f *testing.F) {
	for _, tc := range importCases {
		f.Add(strings.Join(tc.files, "\n---\n"))
		for _, file := range tc.files {
			f.Add(file)
		}
	}
	f.Fuzz(func(t *testing.T, in string) {
		res, err := importStrings([]string{in})
		switch {
		case errors.Is(err, ErrSyntax), errors.Is(err, ErrNoRoutes):
			return
		case err != nil:
			t.Fatalf("error %v; want only ErrSyntax or ErrNoRoutes", err)
		}
		if _, err := config.Parse(res.YAML); err != nil || res.Config == nil {
			t.Fatalf("the output does not parse: %v\n%s", err, res.YAML)
		}
		for _, fd := range res.Findings {
			if fd.Msg == "" || fd.File != "in0.yaml" {
				t.Fatalf("finding %+v; want a message and the file", fd)
			}
		}
	})
}

func TestUniqueNames(t *testing.T) {
	ns := newNames()
	var got []string
	for _, n := range []string{"a", "a", "a-2", "a", "b", "a-3"} {
		got = append(got, ns.unique(n))
	}
	if want := []string{"a", "a-2", "a-2-2", "a-3", "b", "a-3-2"}; !slices.Equal(got, want) {
		t.Errorf("got %q; want %q", got, want)
	}
}
