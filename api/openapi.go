package api

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"
	"gopkg.in/yaml.v3"
)

// openapiYAML is the OpenAPI 3 document of this API, maintained by hand next to the handlers.
// A test fails when a registered route is missing from it or it lists a route that is not served.
//
//go:embed openapi.yaml
var openapiYAML []byte

// openapiJSON is the document converted once to JSON.
var openapiJSON = func() []byte {
	var doc any
	if err := yaml.Unmarshal(openapiYAML, &doc); err != nil {
		panic(fmt.Sprintf("api/openapi.yaml: %v", err))
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(fmt.Sprintf("api/openapi.yaml: %v", err))
	}
	return b
}()

func (s *Server) openAPI(c *gin.Context) {
	c.Data(http.StatusOK, "application/json", openapiJSON)
}
