// Publishes one event to the EPS platform in CloudEvents binary mode, as an LA's system written
// in Java would: the Kafka client (org.apache.kafka:kafka-clients) and Jackson, nothing else.
//
//   java -cp "<kafka-clients and jackson-databind jars>" PublishCloudEvent.java BOOTSTRAP TOPIC < event.json
//
// event.json is the event as docs/integrating.md shows it in structured mode (the envelope).
// Binary mode: the record's value is `data` alone, `content-type` is its media type, every other
// attribute is a `ce_<name>` header, and the key is the envelope's `subject`.

import static java.nio.charset.StandardCharsets.UTF_8;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class PublishCloudEvent {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        String topic = args[1];
        ObjectMapper json = new ObjectMapper();
        ObjectNode envelope = (ObjectNode) json.readTree(System.in);

        JsonNode data = envelope.remove("data");
        JsonNode mediaType = envelope.remove("datacontenttype");
        String key = envelope.get("subject").asText();
        ProducerRecord<String, byte[]> record =
                new ProducerRecord<>(topic, key, json.writeValueAsBytes(data));
        String contentType = mediaType == null ? "application/json" : mediaType.asText();
        record.headers().add("content-type", contentType.getBytes(UTF_8));
        for (Map.Entry<String, JsonNode> attribute : envelope.properties()) {
            if (attribute.getValue().isNull()) {
                continue; // an attribute without a value (causationid) is no header at all
            }
            byte[] text = attribute.getValue().asText().getBytes(UTF_8);
            record.headers().add("ce_" + attribute.getKey(), text);
        }

        Properties config = new Properties();
        config.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        config.put(ProducerConfig.ACKS_CONFIG, "all");
        config.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        try (KafkaProducer<String, byte[]> producer =
                new KafkaProducer<>(config, new StringSerializer(), new ByteArraySerializer())) {
            RecordMetadata sent = producer.send(record).get(); // sent once acknowledged
            System.out.printf("published %s to %s-%d@%d%n",
                    envelope.get("id").asText(), sent.topic(), sent.partition(), sent.offset());
        }
    }
}
