# The seed's OPA rule (docs: "Integration with OPA"), corrected. Not tested: no OPA runs on the
# machines this project is built on, so this file is checked by nothing but review; the
# ValidatingAdmissionPolicy beside it (inferenceservice-registry.yaml) is the tested form.
#
# What the seed's version got wrong:
# - it read only spec.predictor.model.storageUri: an InferenceService using a per-framework
#   predictor (spec.predictor.sklearn.storageUri, ...) or a custom container's STORAGE_URI had
#   no storageUri there, the rule's body was undefined, and nothing was denied;
# - `split(rest, "/")[0] == "myregistry"` compared the host part, but a storageUri with user
#   info (oci://myregistry@evil.example/m) or a port was not what it looked like;
# - `import data.kubernetes.admission` imported the package into itself, and the
#   `deny[{"msg": msg}] { ... }` form is the pre-1.0 syntax that OPA 1.0 rejects.
package kubernetes.admission

import rego.v1

allowed_registries := {"registry.example.com"}

storage_uris contains uri if {
	some _, component in input.request.object.spec.predictor
	uri := component.storageUri
}

storage_uris contains uri if {
	some _, explainer in input.request.object.spec.explainer
	uri := explainer.storageUri
}

storage_uris contains env.value if {
	some container in input.request.object.spec.predictor.containers
	some env in container.env
	env.name == "STORAGE_URI"
}

deny contains msg if {
	input.request.kind.kind == "InferenceService"
	some uri in storage_uris
	not valid_storage_uri(uri)
	msg := sprintf("storageUri %v is not allowed: models must be OCI artifacts (oci://, oci+native:// or oci-artifact://) from %v", [uri, concat(", ", allowed_registries)])
}

deny contains msg if {
	input.request.kind.kind == "InferenceService"
	model := input.request.object.spec.predictor.model
	model.storage
	not model.storageUri
	msg := "spec.predictor.model.storage without a storageUri loads the model from a storage secret's bucket: give an oci:// storageUri"
}

valid_storage_uri(uri) if {
	some scheme in {"oci://", "oci+native://", "oci-artifact://"}
	startswith(uri, scheme)
	rest := substring(uri, count(scheme), -1)
	some registry in allowed_registries
	startswith(rest, concat("", [registry, "/"]))
}
