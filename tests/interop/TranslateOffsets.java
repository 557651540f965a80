// TranslateOffsets.java — Apache MirrorMaker 2's own client (RemoteClusterUtils) reading the
// checkpoints kmirror wrote, for the interop suite (tests/it/test_interop.c). Run from source:
//   java -cp "<mirror-maker libs>/*" TranslateOffsets.java BOOTSTRAP REMOTE_ALIAS GROUP
// Prints one line per partition: "topic partition offset", sorted.
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.connect.mirror.RemoteClusterUtils;

public class TranslateOffsets {
    public static void main(String[] args) throws Exception {
        Map<String, Object> props = new HashMap<>();
        props.put("bootstrap.servers", args[0]);
        Map<TopicPartition, OffsetAndMetadata> offsets =
                RemoteClusterUtils.translateOffsets(props, args[1], args[2], Duration.ofSeconds(30));
        TreeMap<String, Long> sorted = new TreeMap<>();
        offsets.forEach((tp, om) -> sorted.put(tp.topic() + " " + tp.partition(), om.offset()));
        sorted.forEach((k, v) -> System.out.println(k + " " + v));
    }
}
