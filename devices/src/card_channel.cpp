#include "cardbureau/devices/card_channel.h"

#include "cardbureau/devices/apdu.h"

namespace cardbureau::devices {

Result<Bytes> TransmitChecked(CardChannel& channel, ByteView apdu) {
  CB_ASSIGN_OR_RETURN(Bytes raw, channel.Transmit(apdu));
  CB_ASSIGN_OR_RETURN(Response response, ParseResponse(raw));
  CB_RETURN_IF_ERROR(StatusWordToStatus(response.sw));
  return std::move(response.data);
}

}  // namespace cardbureau::devices
