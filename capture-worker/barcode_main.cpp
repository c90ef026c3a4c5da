// funkhaus-barcode: reads the capture barcode of raw decoded frames (see barcode_tool.h).
#include "funkhaus/capture/barcode_tool.h"

int main(int argc, char** argv) { return funkhaus::capture::runBarcodeTool(argc, argv); }
