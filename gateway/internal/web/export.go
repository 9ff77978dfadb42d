package web

import (
	"context"

	"github.com/gofiber/fiber/v2"
	"google.golang.org/protobuf/proto"

	"github.com/meterflow/meterflow/gateway/internal/csvexport"
	"github.com/meterflow/meterflow/platform/callauth"
)

// SendCSV answers a page's download with an export: csvexport's, the
// same file, row cap and rules as the API's. The first page is read before
// the answer starts (a failing service gets an error page); the rest
// streams with the user's token, and a failure midway cuts the download
// off rather than end it short.
func SendCSV[T proto.Message](srv *Server, x *fiber.Ctx, s *Session, e csvexport.Export[T]) error {
	first, cancel := srv.Call(x, s)
	defer cancel()
	stream := callauth.WithUserToken(context.WithoutCancel(x.UserContext()), s.Access)
	return csvexport.Send(x, first, stream, e, csvexport.Options{PageTimeout: srv.CallTimeout(), Log: srv.log})
}
