package web

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"
	"gopkg.in/yaml.v3"
)

// OpenAPIYAML is the merchant and finance API (every route under /api/v1)
// as an OpenAPI 3.1 document. It is served, without a token, at
// /api/v1/openapi.yaml and, as JSON, at /api/v1/openapi.json; the
// top-level tests check that it names every route and that every answer
// the service gives matches it.
//
//go:embed openapi.yaml
var OpenAPIYAML []byte

// OpenAPIJSON is OpenAPIYAML as JSON.
var OpenAPIJSON = func() []byte {
	b, err := openAPIToJSON(OpenAPIYAML)
	if err != nil {
		panic("bridge/web/openapi.yaml: " + err.Error())
	}
	return b
}()

// openAPIToJSON turns the YAML document into JSON, keeping the key order
// it has no need for (JSON objects are unordered) and refusing keys that
// are not strings.
func openAPIToJSON(doc []byte) ([]byte, error) {
	var v any
	if err := yaml.Unmarshal(doc, &v); err != nil {
		return nil, err
	}
	v, err := jsonable(v)
	if err != nil {
		return nil, err
	}
	return json.MarshalIndent(v, "", "  ")
}

func jsonable(v any) (any, error) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			j, err := jsonable(e)
			if err != nil {
				return nil, err
			}
			v[k] = j
		}
		return v, nil
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("key %v is not a string (quote it)", k)
			}
			j, err := jsonable(e)
			if err != nil {
				return nil, err
			}
			out[ks] = j
		}
		return out, nil
	case []any:
		for i, e := range v {
			j, err := jsonable(e)
			if err != nil {
				return nil, err
			}
			v[i] = j
		}
		return v, nil
	}
	return v, nil
}

func openAPIYAML(c *gin.Context) {
	c.Data(http.StatusOK, "application/yaml; charset=utf-8", OpenAPIYAML)
}

func openAPIJSON(c *gin.Context) {
	c.Data(http.StatusOK, "application/json; charset=utf-8", OpenAPIJSON)
}
