package web

import (
	"io"
	"net/http"

	"github.com/gin-gonic/gin"

	"vippskco/bridge"
)

// ecomCallback is POST {callbackPrefix}/v2/payments/{orderId}, the eCom
// API's single-shot callback. It is answered as soon as the read it asks
// for is stored (Vipps waits 3 s and never retries).
func (h *HTTP) ecomCallback(c *gin.Context) error {
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxBody))
	if err != nil {
		return bridge.Errorf(bridge.ECodeInvalid, "body_too_large", "the callback body is too large")
	}
	err = h.Service.HandleEcomCallback(c.Request.Context(), c.Param("unit"), c.Param("orderId"), c.GetHeader("Authorization"), body)
	if err != nil {
		h.logger().WarnContext(c.Request.Context(), "vipps eCom callback rejected", "unit", c.Param("unit"), "reason", bridge.ErrorReason(err), "err", err)
		return err
	}
	c.JSON(http.StatusOK, gin.H{"status": "accepted"})
	return nil
}
